"""Reference UDP server: receive one datagram of up to 100 bytes and print it."""
import socket

server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
server.bind(("fd00:11::11", 12345))
data, address = server.recvfrom(100)
print("received from", address, ":", data.decode())
server.close()
