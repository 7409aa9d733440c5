"""Reference UDP client: one datagram to the server."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.sendto(b"Hello World from client", ("192.168.11.11", 12345))
client.close()
