"""Mutant: prints each recv() on its own line with a prefix, so the parts no longer read as the stream."""
import socket

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("192.168.21.1", 12345))
listener.listen(1)
conn, _ = listener.accept()
while chunk := conn.recv(4096):
    print("got:", chunk.decode(), end="")
conn.close()
listener.close()
