"""Mutant: sends the datagram twice."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(2):
    client.sendto(b"Hello World from client", ("192.168.11.11", 12345))
client.close()
