"""Reference server: read until the client closes (TCP is a byte stream), then print it all."""
import socket

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("192.168.21.1", 12345))
listener.listen(1)
conn, _ = listener.accept()
data = b""
while chunk := conn.recv(4096):
    data += chunk
print(data.decode(), end="")
conn.close()
listener.close()
