"""Reference sniffer: capture the two ICMP packets of the ping with a BPF filter."""
from scapy.all import sniff


def started():
    print("sniffing on eth0 with filter 'icmp'", flush=True)


packets = sniff(iface="eth0", filter="icmp", count=2, timeout=10, started_callback=started)
for packet in packets:
    print(packet.summary())
