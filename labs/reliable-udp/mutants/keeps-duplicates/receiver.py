"""Mutant: keeps every chunk it receives, so a resent chunk whose ACK was lost is written twice."""
import hashlib
import socket
import struct

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("10.0.7.2", 9000))
sock.settimeout(10)
received = []
while True:
    packet, sender = sock.recvfrom(2048)
    sock.sendto(packet[:4], sender)
    if len(packet) == 4:
        break
    received.append(packet[4:])
sock.settimeout(1.0)
try:
    while True:
        packet, sender = sock.recvfrom(2048)
        sock.sendto(packet[:4], sender)
except TimeoutError:
    pass
data = b"".join(received)
print(f"received {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()}")
