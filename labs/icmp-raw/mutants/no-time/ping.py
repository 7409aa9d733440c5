"""Mutant: prints each reply without its round-trip time."""
import os
import socket
import sys
import time

from icmp import echo_request, parse

target = sys.argv[1]
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(1.0)
ident = os.getpid() & 0xFFFF
answered = 0
for seq in range(1, 4):
    sent = time.monotonic()
    sock.sendto(echo_request(ident, seq), (target, 0))
    while True:  # the raw socket sees every ICMP packet of the node: keep only our reply
        try:
            packet, _ = sock.recvfrom(1500)
        except TimeoutError:
            print(f"no reply for seq={seq}")
            break
        source, icmp_type, _, rid, rseq = parse(packet)
        if icmp_type == 0 and rid == ident and rseq == seq:
            answered += 1
            print(f"reply from {source}: seq={seq}")
            break
    time.sleep(0.2)
sys.exit(0 if answered else 1)
