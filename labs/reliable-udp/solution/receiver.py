"""Reference stop-and-wait receiver: ACK every chunk, keep each one once and in order."""
import hashlib
import socket
import struct

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("10.0.7.2", 9000))
sock.settimeout(10)
expected, received = 0, []
while True:
    packet, sender = sock.recvfrom(2048)
    if len(packet) < 4:
        continue
    seq = struct.unpack("!I", packet[:4])[0]
    sock.sendto(packet[:4], sender)  # ACK it, even a duplicate (its ACK may have been lost)
    if seq != expected:
        continue  # a duplicate of a chunk already kept
    expected += 1
    if len(packet) == 4:  # the empty chunk: end of file
        break
    received.append(packet[4:])
sock.settimeout(1.0)  # the last ACK may be lost: answer resent end markers for a while
try:
    while True:
        packet, sender = sock.recvfrom(2048)
        sock.sendto(packet[:4], sender)
except TimeoutError:
    pass
data = b"".join(received)
open("received.txt", "wb").write(data)
print(f"received {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()}")
