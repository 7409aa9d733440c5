"""Mutant: sends to socket.htons(12345), i.e. port 14640."""
import socket

client = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
client.sendto(b"Hello World from client", ("fd00:11::11", socket.htons(12345)))
client.close()
