"""Mutant: receives and prints, but never answers."""
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("192.168.11.11", 12345))
server.listen(1)
conn, addr = server.accept()
print("received:", conn.recv(100).decode())
conn.close()
