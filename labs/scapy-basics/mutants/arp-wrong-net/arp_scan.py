"""Mutant: scans the wrong subnet."""
from scapy.all import ARP, Ether, srp

answered, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="192.168.12.8/29"), iface="eth0", timeout=1,
                  verbose=False)
if not answered:
    raise SystemExit("nobody answered")
for _request, reply in answered:
    print(f"{reply[ARP].psrc} is at {reply[ARP].hwsrc}")
