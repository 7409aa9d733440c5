"""An ordinary UDP server: it only sees the datagram if the hand-made frame was right."""
import socket

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("192.168.11.11", 12345))
data, address = server.recvfrom(100)
print("received from", address, ":", data.decode())
server.close()
