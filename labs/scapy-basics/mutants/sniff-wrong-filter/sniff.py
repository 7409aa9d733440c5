"""Mutant: sniffs udp instead of icmp."""
from scapy.all import sniff


def started():
    print("sniffing on eth0 with filter 'icmp'", flush=True)


packets = sniff(iface="eth0", filter="udp", count=2, timeout=10, started_callback=started)
for packet in packets:
    print(packet.summary())
