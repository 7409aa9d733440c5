"""Mutant: receives the datagram but does not print it."""
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("192.168.11.11", 12345))
data, address = server.recvfrom(100)
print("got a datagram from", address)
server.close()
