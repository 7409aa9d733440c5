"""Mutant: pings an address nobody has."""
from scapy.all import ICMP, IP, sr1

reply = sr1(IP(dst="192.168.11.99") / ICMP(), timeout=2, verbose=False)
if reply is None:
    raise SystemExit("no reply")
print("reply:", reply.summary())
