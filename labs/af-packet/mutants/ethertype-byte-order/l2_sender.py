"""Mutant: the EtherType in host byte order (0xb588)."""
import socket
import struct

frame = bytes.fromhex("020000000011") + bytes.fromhex("020000000012") + struct.pack("<H", 0x88B5)
frame += b"Hello World from client".ljust(46, b"\0")  # pad to Ethernet's 60-byte minimum
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind(("eth0", 0))
sock.send(frame)
sock.close()
