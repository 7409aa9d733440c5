"""Mutant: listens for UDP instead of protocol 102.

For IPv4 raw sockets the kernel hands over the whole datagram, IP header included.
"""
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
server.bind(("192.168.11.13", 0))
datagram, address = server.recvfrom(100)
header_length = (datagram[0] & 0x0F) * 4
print("received from", address[0], "protocol", datagram[9], ":", datagram[header_length:].decode())
server.close()
