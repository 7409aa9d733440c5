"""Mutant: passes the protocol through htons()."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.htons(102))
client.sendto(b"Hello World from client", ("192.168.11.13", 0))
client.close()
