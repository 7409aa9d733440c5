"""Reference TCP client: send a greeting, print the answer."""
import socket

client = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
client.connect(("fd00:11::11", 12345))
client.sendall(b"Hello World from client")
print("server said:", client.recv(100).decode())
client.close()
