"""Reference ARP scan with srp: who has each address of 192.168.11.8/29?"""
from scapy.all import ARP, Ether, srp

answered, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="192.168.11.8/29"), iface="eth0", timeout=1,
                  verbose=False)
if not answered:
    raise SystemExit("nobody answered")
for _request, reply in answered:
    print(f"{reply[ARP].psrc} is at {reply[ARP].hwsrc}")
