"""Mutant: an IPv4 socket for an IPv6 address."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.sendto(b"Hello World from client", ("fd00:11::11", 12345))
client.close()
