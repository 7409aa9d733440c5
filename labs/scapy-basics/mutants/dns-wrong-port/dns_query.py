"""Mutant: queries port 5353."""
from scapy.all import DNS, DNSQR, IP, UDP, sr

answered, unanswered = sr(IP(dst="192.168.11.11") / UDP(dport=5353) / DNS(rd=1, qd=DNSQR(qname="server.lab")),
                          filter="udp port 53", timeout=2, verbose=False)
if not answered:
    raise SystemExit("no DNS answer")
for _query, response in answered:
    print("server.lab is", response[DNS].an.rdata)
