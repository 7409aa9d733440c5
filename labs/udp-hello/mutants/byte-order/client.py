"""Mutant: sends to socket.htons(12345): the port in network byte order, i.e. 14640."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.sendto(b"Hello World from client", ("192.168.11.11", socket.htons(12345)))
client.close()
