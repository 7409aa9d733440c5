"""Reference raw-IP sender: the kernel writes the IP header (protocol 102), we give the payload."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_RAW, 102)
client.sendto(b"Hello World from client", ("192.168.11.13", 0))
client.close()
