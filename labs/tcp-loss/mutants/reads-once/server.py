"""Mutant: one recv() and done, as if one send() were one message (TCP is a byte stream)."""
import socket

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("192.168.21.1", 12345))
listener.listen(1)
conn, _ = listener.accept()
print(conn.recv(4096).decode(), end="")
conn.close()
listener.close()
