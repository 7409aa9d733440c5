"""Reference ping: one ICMP echo request with sr1, print the reply."""
from scapy.all import ICMP, IP, sr1

reply = sr1(IP(dst="192.168.11.11") / ICMP(), timeout=2, verbose=False)
if reply is None:
    raise SystemExit("no reply")
print("reply:", reply.summary())
