"""Reference AF_UNIX datagram server on ./dgram.sock: receive one datagram, print it."""
import os
import socket

PATH = "dgram.sock"
if os.path.exists(PATH):
    os.unlink(PATH)
server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
server.bind(PATH)
data = server.recv(100)
print("received:", data.decode())
server.close()
os.unlink(PATH)
