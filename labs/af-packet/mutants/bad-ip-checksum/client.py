"""Mutant: the IPv4 header checksum in host byte order.

Everything the kernel would normally fill in is computed here: the IPv4 total length and
header checksum, the UDP length and checksum (over the pseudo-header), the flags and TTL.
"""
import socket
import struct

SRC_MAC, DST_MAC = bytes.fromhex("020000000012"), bytes.fromhex("020000000011")
SRC_IP, DST_IP = socket.inet_aton("192.168.11.12"), socket.inet_aton("192.168.11.11")
SRC_PORT, DST_PORT = 40000, 12345
PAYLOAD = b"Hello World from client"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


udp_length = 8 + len(PAYLOAD)
pseudo = SRC_IP + DST_IP + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_length)
udp = struct.pack("!HHHH", SRC_PORT, DST_PORT, udp_length, 0) + PAYLOAD
udp_sum = checksum(pseudo + udp) or 0xFFFF
udp = struct.pack("!HHHH", SRC_PORT, DST_PORT, udp_length, udp_sum) + PAYLOAD

ip_header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_length, 0x1234, 0x4000, 64,
                        socket.IPPROTO_UDP, 0, SRC_IP, DST_IP)
ip_header = ip_header[:10] + struct.pack("<H", checksum(ip_header)) + ip_header[12:]  # host byte order

frame = DST_MAC + SRC_MAC + struct.pack("!H", 0x0800) + ip_header + udp
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind(("eth0", 0))
sent = sock.send(frame)
print(f"sent a {sent}-byte frame: {frame.hex()}")
sock.close()
