"""Mutant: connects to port 12346."""
import socket

client = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
client.connect(("fd00:11::11", 12346))
client.sendall(b"Hello World from client")
print("server said:", client.recv(100).decode())
client.close()
