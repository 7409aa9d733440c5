"""Reference TCP client: send a greeting, print the answer (TCP is a byte stream: it may
come in pieces, so read until it is whole or the server closes)."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("server", 12345))
client.sendall(b"Hello World from client")
ANSWER = b"Hello World from server"
answer = client.recv(100)
while answer and len(answer) < len(ANSWER):
    chunk = client.recv(100)
    if not chunk:
        break
    answer += chunk
print("server said:", answer.decode())
client.close()
