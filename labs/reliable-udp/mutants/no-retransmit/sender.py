"""Mutant: sends every chunk once and never waits for an ACK (UDP is not reliable)."""
import socket
import struct
import sys

data = open(sys.argv[1], "rb").read()
chunks = [data[i:i + 1000] for i in range(0, len(data), 1000)] + [b""]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for seq, chunk in enumerate(chunks):
    sock.sendto(struct.pack("!I", seq) + chunk, ("10.0.7.2", 9000))
print(f"sent {len(data)} bytes")
