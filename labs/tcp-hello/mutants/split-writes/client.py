"""Mutant that must still pass: the greeting goes out in two send() calls (two TCP segments)."""
import socket
import time

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
client.connect(("192.168.11.11", 12345))
client.sendall(b"Hello World ")
time.sleep(0.05)
client.sendall(b"from client")
print("server said:", client.recv(100).decode())
client.close()
