"""The lab's DNS server (given, not for students to write): answers A queries for *.lab names."""
import socket

from scapy.layers.dns import DNS, DNSRR

RECORDS = {"server.lab.": "192.168.11.11", "client.lab.": "192.168.11.12"}

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 53))
while True:
    data, peer = sock.recvfrom(512)
    query = DNS(data)
    if not query.qd:
        continue
    name = query.qd[0].qname.decode()
    answer = RECORDS.get(name)
    reply = DNS(id=query.id, qr=1, aa=1, rd=query.rd, ra=1, qd=query.qd, rcode=0 if answer else 3,
                an=DNSRR(rrname=name, type="A", ttl=60, rdata=answer) if answer else None)
    sock.sendto(bytes(reply), peer)
    print(f"answered {name} -> {answer}", flush=True)
