"""Reference AF_UNIX datagram client."""
import socket

client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
client.sendto(b"Hello World from client", "dgram.sock")
client.close()
