"""Reference AF_UNIX stream client."""
import socket

client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect("stream.sock")
client.sendall(b"Hello World from client")
print("server said:", client.recv(100).decode())
client.close()
