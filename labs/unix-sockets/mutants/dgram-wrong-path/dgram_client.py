"""Mutant: sends to /tmp/dgram.sock."""
import socket

client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
client.sendto(b"Hello World from client", "/tmp/dgram.sock")
client.close()
