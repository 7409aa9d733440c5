"""Mutant: listens on 127.0.0.1 only."""
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 12345))
server.listen(1)
conn, addr = server.accept()
data = conn.recv(100)
print("received from", addr, ":", data.decode())
conn.sendall(b"Hello World from server")
conn.close()
server.close()
