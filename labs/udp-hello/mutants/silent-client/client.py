"""Mutant: opens a socket and never sends."""
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.close()
