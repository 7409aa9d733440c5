"""Mutant: listens on IPv4 only."""
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("0.0.0.0", 12345))
data, address = server.recvfrom(100)
print("received from", address, ":", data.decode())
server.close()
