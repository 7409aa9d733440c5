"""ICMP echo packets by hand: build with the Internet checksum, parse what a raw socket returns."""
import struct


def checksum(data: bytes) -> int:
    """RFC 1071: one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"socklab ping") -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload


def parse(packet: bytes) -> tuple[str, int, int, int, int]:
    """(source address, ICMP type, code, id, seq) of an IP packet a raw ICMP socket returned.

    For time exceeded, id and seq are those of our echo request quoted inside the error.
    """
    ihl = (packet[0] & 15) * 4
    source = ".".join(str(b) for b in packet[12:16])
    icmp_type, code = packet[ihl], packet[ihl + 1]
    if icmp_type in (3, 11):  # an error quotes the IP header + 8 bytes of what we sent
        inner = packet[ihl + 8:]
        inner_ihl = (inner[0] & 15) * 4
        ident, seq = struct.unpack_from("!HH", inner, inner_ihl + 4)
    else:
        ident, seq = struct.unpack_from("!HH", packet, ihl + 4)
    return source, icmp_type, code, ident, seq
