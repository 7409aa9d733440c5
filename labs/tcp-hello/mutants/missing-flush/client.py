"""Mutant: writes through a buffered file object and never flushes it, then waits for the answer."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("192.168.11.11", 12345))
out = client.makefile("wb")
out.write(b"Hello World from client")  # sits in the buffer: no flush()
print("server said:", client.recv(100).decode())
client.close()
