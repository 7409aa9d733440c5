"""Mutant: an IPv4 socket for an IPv6 address."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("fd00:11::11", 12345))
client.sendall(b"Hello World from client")
print("server said:", client.recv(100).decode())
client.close()
