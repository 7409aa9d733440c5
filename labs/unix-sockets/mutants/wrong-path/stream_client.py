"""Mutant: connects to ./stream_socket."""
import socket

client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect("stream_socket")
client.sendall(b"Hello World from client")
print("server said:", client.recv(100).decode())
client.close()
