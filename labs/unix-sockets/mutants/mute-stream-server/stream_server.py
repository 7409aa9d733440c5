"""Mutant: never answers."""
import os
import socket

PATH = "stream.sock"
if os.path.exists(PATH):
    os.unlink(PATH)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(PATH)
server.listen(1)
conn, _ = server.accept()
print("received:", conn.recv(100).decode())
conn.close()
server.close()
os.unlink(PATH)
