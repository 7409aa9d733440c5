"""Reference UDP client: one datagram to the server."""
import socket

client = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
client.sendto(b"Hello World from client", ("fd00:11::11", 12345))
client.close()
