"""Mutant: never answers."""
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 12345))
server.listen(1)
conn, addr = server.accept()
data = conn.recv(100)
print("received from", addr, ":", data.decode())
conn.close()
server.close()
