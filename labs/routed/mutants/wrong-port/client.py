"""Mutant: connects to port 12346."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("server", 12346))
client.sendall(b"Hello World from client")
print("server said:", client.recv(100).decode())
client.close()
