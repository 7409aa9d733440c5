"""Reference traceroute: echo requests with TTL 1, 2, 3... until the target itself answers."""
import os
import socket
import sys
import time

from icmp import echo_request, parse

target = sys.argv[1]
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(1.0)
ident = os.getpid() & 0xFFFF
for ttl in range(1, 16):
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    sent = time.monotonic()
    sock.sendto(echo_request(ident, ttl), (target, 0))
    hop = None
    while hop is None:
        try:
            packet, _ = sock.recvfrom(1500)
        except TimeoutError:
            break
        source, icmp_type, _, rid, rseq = parse(packet)
        if rid == ident and rseq == ttl and icmp_type in (0, 11):
            hop = (source, icmp_type)
    if hop is None:
        print(f"{ttl:2d}  *")
        continue
    print(f"{ttl:2d}  {hop[0]}  {(time.monotonic() - sent) * 1000:.1f} ms")
    if hop[1] == 0:  # echo reply: the target itself
        break
