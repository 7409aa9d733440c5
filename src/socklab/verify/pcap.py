"""Read and write capture files with struct alone: pcap (µs and ns, either byte order) and pcapng.

scapy's readers dissect every packet (≈6k pkt/s); this reader only splits records
(≈1M pkt/s), so a whole capture is read once and only the few packets a check needs
are dissected later.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IPv4 or IPv6, version from the first nibble
LINKTYPE_LINUX_SLL = 113  # tcpdump -i any (older libpcap)
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276  # tcpdump -i any (libpcap >= 1.10)

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


class CaptureFormatError(ValueError):
    """The file is not a pcap/pcapng capture we can read."""


Record = tuple[float, int, bytes, int]
"""One captured frame: (timestamp in epoch seconds, link type, bytes as captured, length on the wire).
A plain tuple: 100k of them are built per capture, and tuples are the cheapest to build."""


def read_records(path: str | Path) -> tuple[list[Record], bool]:
    """All records of a pcap or pcapng file, and whether its last record was cut short.

    A capture stopped abruptly (tcpdump killed) may end mid-record; that partial record is
    dropped and reported through the flag instead of failing the whole file.
    """
    buf = Path(path).read_bytes()
    if len(buf) < 4:
        if not buf:
            raise CaptureFormatError("empty file (the capture never started?)")
        raise CaptureFormatError("file too short to be a capture")
    magic = buf[:4]
    if magic in _PCAP_MAGICS:
        return _read_pcap(buf)
    if magic == _PCAPNG_SHB:
        return _read_pcapng(buf)
    raise CaptureFormatError(f"not a pcap or pcapng file (magic {magic.hex()})")


def _read_pcap(buf: bytes) -> tuple[list[Record], bool]:
    endian, scale = _PCAP_MAGICS[buf[:4]]
    if len(buf) < 24:
        raise CaptureFormatError("pcap global header cut short")
    linktype = struct.unpack_from(endian + "I", buf, 20)[0] & 0x0FFFFFFF
    hdr = struct.Struct(endian + "IIII")
    unpack = hdr.unpack_from
    out: list[Record] = []
    append = out.append
    pos, end = 24, len(buf)
    while pos + 16 <= end:
        sec, frac, incl, orig = unpack(buf, pos)
        pos += 16
        if pos + incl > end:
            return out, True
        append((sec + frac * scale, linktype, buf[pos : pos + incl], orig))
        pos += incl
    return out, pos != end


def _read_pcapng(buf: bytes) -> tuple[list[Record], bool]:
    out: list[Record] = []
    endian = "<"
    ifaces: list[tuple[int, float]] = []  # (linktype, seconds per tick) per interface of the section
    pos, end = 0, len(buf)
    while pos + 12 <= end:
        btype_raw = buf[pos : pos + 4]
        if btype_raw == _PCAPNG_SHB:
            bom = buf[pos + 8 : pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                raise CaptureFormatError("pcapng section header with a bad byte-order magic")
            ifaces = []
        btype, blen = struct.unpack_from(endian + "II", buf, pos)
        if blen < 12 or blen % 4:
            raise CaptureFormatError(f"pcapng block at offset {pos} has a bad length {blen}")
        if pos + blen > end:
            return out, True
        body = pos + 8
        if btype == 1:  # interface description
            linktype = struct.unpack_from(endian + "H", buf, body)[0]
            ifaces.append((linktype, _tsresol(buf, body + 8, pos + blen - 4, endian)))
        elif btype == 6:  # enhanced packet
            iface, hi, lo, incl, orig = struct.unpack_from(endian + "IIIII", buf, body)
            linktype, tick = ifaces[iface] if iface < len(ifaces) else (LINKTYPE_ETHERNET, 1e-6)
            data = buf[body + 20 : body + 20 + incl]
            out.append((((hi << 32) | lo) * tick, linktype, data, orig))
        elif btype == 3:  # simple packet: no timestamp, interface 0
            orig = struct.unpack_from(endian + "I", buf, body)[0]
            incl = min(orig, blen - 16)
            linktype = ifaces[0][0] if ifaces else LINKTYPE_ETHERNET
            out.append((0.0, linktype, buf[body + 4 : body + 4 + incl], orig))
        pos += blen
    return out, pos != end


def _tsresol(buf: bytes, pos: int, end: int, endian: str) -> float:
    """The if_tsresol option of an interface description block, as seconds per tick."""
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = buf[pos + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0**-v
        pos += 4 + ((length + 3) & ~3)
    return 1e-6


def first_timestamp(path: str | Path) -> float | None:
    """Timestamp of the first record of a pcap file, read from its first 40 bytes (None if none)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(40)
    except OSError:
        return None
    if head[:4] in _PCAP_MAGICS and len(head) >= 32:
        endian, scale = _PCAP_MAGICS[head[:4]]
        sec, frac = struct.unpack_from(endian + "II", head, 24)
        return sec + frac * scale
    if head[:4] == _PCAPNG_SHB:
        try:
            records, _ = read_records(path)
        except (OSError, CaptureFormatError):
            return None
        return records[0][0] if records else None
    return None


def write_pcap(
    path: str | Path,
    frames: Iterable[tuple[float, bytes]],
    linktype: int = LINKTYPE_ETHERNET,
    nano: bool = False,
    snaplen: int = 262144,
) -> int:
    """Write (timestamp, frame bytes) pairs as a little-endian pcap file; returns the frame count.

    Used by tests and the bench to produce large captures quickly (no scapy per packet).
    """
    scale = 1_000_000_000 if nano else 1_000_000
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    pack = struct.Struct("<IIII").pack
    n = 0
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        chunks: list[bytes] = []
        for ts, data in frames:
            ticks = round(ts * scale)
            sec, frac = divmod(ticks, scale)
            chunks.append(pack(sec, frac, len(data), len(data)))
            chunks.append(data)
            n += 1
            if len(chunks) >= 8192:
                fh.write(b"".join(chunks))
                chunks.clear()
        fh.write(b"".join(chunks))
    return n


def iter_hexdump(data: bytes, marks: set[int] | None = None, base: int = 0) -> Iterator[str]:
    """Classic 16-bytes-a-line hex dump; bytes whose offset is in `marks` get ^^ under them."""
    marks = marks or set()
    for line in range(0, len(data), 16):
        chunk = data[line : line + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        yield f"{base + line:04x}  {hexes:<47}  {text}"
        under = [("^^" if base + line + i in marks else "  ") for i in range(len(chunk))]
        if any(u != "  " for u in under):
            yield "      " + " ".join(under).rstrip()
