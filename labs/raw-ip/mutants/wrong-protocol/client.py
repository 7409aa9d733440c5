"""Mutant: sends with IP protocol 103."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_RAW, 103)
client.sendto(b"Hello World from client", ("192.168.11.13", 0))
client.close()
