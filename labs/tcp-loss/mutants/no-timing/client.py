"""Mutant: sends the three parts but never looks at when part 2 was acknowledged."""
import socket
import time

sock = socket.create_connection(("192.168.21.1", 12345))
for part in (b"part 1\n", b"part 2\n", b"part 3\n"):
    sock.sendall(part)
    time.sleep(0.3)
sock.shutdown(socket.SHUT_WR)
sock.recv(1)
sock.close()
