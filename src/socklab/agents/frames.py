"""Ethernet, IPv4 and UDP headers built and parsed by hand with struct: no socket, no I/O.

This is what the kernel normally does for a program, written out so that the packet
sender can put whole frames on an AF_PACKET socket, the raw and packet receivers can
show students the headers they got, and tests can check every field.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

ETH_HEADER = struct.Struct("!6s6sH")  # dst, src, ethertype
IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")  # ver/ihl, tos, len, id, flags/frag, ttl, proto, csum, src, dst
UDP_HEADER = struct.Struct("!HHHH")  # sport, dport, length, checksum
ETH_MIN_FRAME = 60  # 64 bytes on the wire minus the 4-byte FCS the NIC appends
ETH_P_IP = 0x0800
IPPROTO_UDP = 17
IP_DF = 0x4000
IP_MF = 0x2000


def parse_mac(text: str) -> bytes:
    """'02:00:00:00:00:01' (or with '-') to 6 bytes; ValueError if it is not a MAC."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) in (1, 2) for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def format_mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def corrupt(value: int) -> int:
    """A checksum that is surely wrong: never the +0/-0 twin (0x0000/0xffff) nor UDP's 'none' (0)."""
    return value - 1 if value > 1 else value + 1


def ipv4_header(
    src: str,
    dst: str,
    protocol: int,
    payload_length: int,
    ttl: int = 64,
    ident: int = 0,
    tos: int = 0,
    dont_fragment: bool = True,
    bad_checksum: bool = False,
) -> bytes:
    """A 20-byte IPv4 header (no options) with its total length and header checksum filled in."""
    total_length = IPV4_HEADER.size + payload_length
    if total_length > 0xFFFF:
        raise ValueError(f"IPv4 packet too long: {total_length} bytes")
    fields = [
        (4 << 4) | 5, tos, total_length, ident, IP_DF if dont_fragment else 0, ttl, protocol, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    ]
    csum = checksum(IPV4_HEADER.pack(*fields))
    fields[7] = corrupt(csum) if bad_checksum else csum
    return IPV4_HEADER.pack(*fields)


def udp_datagram(
    src: str, dst: str, sport: int, dport: int, payload: bytes, bad_checksum: bool = False
) -> bytes:
    """UDP header + payload; the checksum covers the IPv4 pseudo-header (RFC 768)."""
    length = UDP_HEADER.size + len(payload)
    csum = checksum(udp_pseudo_header(src, dst, length) + UDP_HEADER.pack(sport, dport, length, 0) + payload)
    csum = csum or 0xFFFF  # 0 means "no checksum" in UDP over IPv4; send its twin instead
    if bad_checksum:
        csum = corrupt(csum)
    return UDP_HEADER.pack(sport, dport, length, csum) + payload


def udp_pseudo_header(src: str, dst: str, length: int) -> bytes:
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, IPPROTO_UDP, length)


def ethernet_frame(dst: bytes, src: bytes, ethertype: int, payload: bytes, pad: bool = True) -> bytes:
    """Ethernet II header + payload, zero-padded to the 60-byte minimum unless pad is False."""
    frame = ETH_HEADER.pack(dst, src, ethertype) + payload
    if pad and len(frame) < ETH_MIN_FRAME:
        frame += b"\0" * (ETH_MIN_FRAME - len(frame))
    return frame


def parse_ethernet(frame: bytes) -> tuple[dict[str, Any], bytes]:
    if len(frame) < ETH_HEADER.size:
        raise ValueError(f"frame too short for Ethernet: {len(frame)} bytes")
    dst, src, ethertype = ETH_HEADER.unpack_from(frame)
    header = {"dst": format_mac(dst), "src": format_mac(src), "type": ethertype,
              "type_hex": f"0x{ethertype:04x}"}
    return header, frame[ETH_HEADER.size:]


def parse_ipv4(packet: bytes) -> tuple[dict[str, Any], bytes]:
    """Header fields as the raw receiver reports them, and the payload cut at total_length."""
    if len(packet) < IPV4_HEADER.size:
        raise ValueError(f"too short for IPv4: {len(packet)} bytes")
    ver_ihl, tos, total_length, ident, flags_frag, ttl, proto, csum, src, dst = IPV4_HEADER.unpack_from(packet)
    version, ihl = ver_ihl >> 4, ver_ihl & 0x0F
    if version != 4 or ihl < 5 or len(packet) < ihl * 4:
        raise ValueError(f"not an IPv4 header (version {version}, ihl {ihl})")
    flags = flags_frag >> 13
    header = {
        "version": version,
        "ihl": ihl,
        "tos": tos,
        "total_length": total_length,
        "id": ident,
        "flags": flags,
        "flags_text": "+".join(n for n, bit in (("DF", IP_DF), ("MF", IP_MF)) if flags_frag & bit),
        "frag_offset": flags_frag & 0x1FFF,
        "ttl": ttl,
        "protocol": proto,
        "checksum": csum,
        "checksum_ok": checksum(packet[: ihl * 4]) == 0,
        "src": socket.inet_ntoa(src),
        "dst": socket.inet_ntoa(dst),
    }
    end = total_length if ihl * 4 <= total_length <= len(packet) else len(packet)
    return header, packet[ihl * 4 : end]


def parse_udp(segment: bytes, src: str, dst: str) -> tuple[dict[str, Any], bytes]:
    """UDP header fields with the checksum checked against the IPv4 pseudo-header."""
    if len(segment) < UDP_HEADER.size:
        raise ValueError(f"too short for UDP: {len(segment)} bytes")
    sport, dport, length, csum = UDP_HEADER.unpack_from(segment)
    body = segment[: length] if UDP_HEADER.size <= length <= len(segment) else segment
    ok = csum == 0 or checksum(udp_pseudo_header(src, dst, len(body)) + body) == 0
    header = {"sport": sport, "dport": dport, "length": length, "checksum": csum, "checksum_ok": ok}
    return header, body[UDP_HEADER.size :]
