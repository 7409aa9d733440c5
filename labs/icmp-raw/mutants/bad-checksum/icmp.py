"""Mutant: the echo request's checksum is left at 0, so host2 silently drops it."""
import struct


def echo_request(ident: int, seq: int, payload: bytes = b"socklab ping") -> bytes:
    return struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload


def parse(packet: bytes) -> tuple[str, int, int, int, int]:
    ihl = (packet[0] & 15) * 4
    source = ".".join(str(b) for b in packet[12:16])
    icmp_type, code = packet[ihl], packet[ihl + 1]
    if icmp_type in (3, 11):
        inner = packet[ihl + 8:]
        ident, seq = struct.unpack_from("!HH", inner, (inner[0] & 15) * 4 + 4)
    else:
        ident, seq = struct.unpack_from("!HH", packet, ihl + 4)
    return source, icmp_type, code, ident, seq
