"""Reference TCP server: receive the greeting (TCP is a byte stream: it may come in pieces),
print it, answer."""
import socket

GREETING = b"Hello World from client"
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("192.168.11.11", 12345))
server.listen(1)
conn, addr = server.accept()
data = conn.recv(100)
while data and len(data) < len(GREETING) and not data.endswith(b"\n"):
    chunk = conn.recv(100)
    if not chunk:
        break
    data += chunk
print("received from", addr, ":", data.decode())
conn.sendall(b"Hello World from server")
conn.close()
server.close()
