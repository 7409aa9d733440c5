"""Capture files written incrementally: pcap as tcpdump writes it, and pcapng with one interface per wire.

pcapng is little-endian throughout (its byte-order magic says so). Written with struct (about fifty lines): no library in socklab's stack writes a pcapng
*stream* block by block to a pipe (scapy's PcapNgWriter does, but importing scapy costs
about a second, too much for a live capture's start or a run folder's close).
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from socklab.bpf import LINKTYPE_ETHERNET, SNAPLEN

Packet = tuple[int, int, bytes, int]
"""(seconds, nanoseconds, bytes as captured, length on the wire)."""

_PCAP_HEADER = struct.Struct("=IHHiIII")
_PCAP_RECORD = struct.Struct("=IIII")


def pcap_header(linktype: int = LINKTYPE_ETHERNET, snaplen: int = SNAPLEN) -> bytes:
    """The global header tcpdump -s 0 writes: microsecond timestamps, host byte order."""
    return _PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def pcap_records(packets: Iterable[Packet]) -> bytes:
    pack = _PCAP_RECORD.pack
    parts: list[bytes] = []
    append = parts.append
    for sec, nsec, data, length in packets:
        append(pack(sec, nsec // 1000, len(data), length))  # libpcap truncates ns to µs the same way
        append(data)
    return b"".join(parts)


def read_pcap(path: Path) -> tuple[int, Iterator[Packet]]:
    """(link type, packets) of a pcap this module wrote, timestamps as (s, µs*1000)."""
    buf = path.read_bytes()
    magic, _, _, _, _, _, linktype = _PCAP_HEADER.unpack_from(buf, 0)
    if magic != 0xA1B2C3D4:
        raise ValueError(f"{path}: not a host-order µs pcap")

    def packets() -> Iterator[Packet]:
        pos, end, unpack = _PCAP_HEADER.size, len(buf), _PCAP_RECORD.unpack_from
        while pos + 16 <= end:
            sec, usec, incl, orig = unpack(buf, pos)
            pos += 16
            if pos + incl > end:
                return
            yield sec, usec * 1000, buf[pos : pos + incl], orig
            pos += incl

    return linktype, packets()


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


class PcapNgWriter:
    """A pcapng stream: one section, one Interface Description Block per "node:iface",
    Enhanced Packet Blocks with nanosecond timestamps. Blocks go out as they are made."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._ids: dict[str, int] = {}
        options = _option(4, b"socklab") + _option(0, b"")  # shb_userappl, opt_endofopt
        out.write(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + options))

    def interface(self, name: str, linktype: int = LINKTYPE_ETHERNET, snaplen: int = SNAPLEN) -> int:
        """Describe one wire (if_name "node:iface", if_tsresol 10^-9) and return its id."""
        if name not in self._ids:
            options = _option(2, name.encode()) + _option(9, b"\x09") + _option(0, b"")
            self._out.write(_block(1, struct.pack("<HHI", linktype, 0, snaplen) + options))
            self._ids[name] = len(self._ids)
        return self._ids[name]

    def packets(self, interface: int, packets: Iterable[Packet]) -> int:
        return self.mixed((interface, *p) for p in packets)

    def mixed(self, packets: Iterable[tuple[int, int, int, bytes, int]]) -> int:
        """Write (interface, seconds, nanoseconds, data, wire length) packets; returns how many."""
        parts: list[bytes] = []
        head = _EPB_HEAD.pack
        count = 0
        for interface, sec, nsec, data, length in packets:
            ts = sec * 1_000_000_000 + nsec
            pad = -len(data) % 4
            total = 32 + len(data) + pad
            parts += (head(6, total, interface, ts >> 32, ts & 0xFFFFFFFF, len(data), length), data,
                      _PAD[pad] + total.to_bytes(4, "little"))
            count += 1
        self._out.write(b"".join(parts))
        return count


_EPB_HEAD = struct.Struct("<7I")
_PAD = (b"", b"\0", b"\0\0", b"\0\0\0")


def merge_to_pcapng(sources: dict[str, Path], target: Path) -> int:
    """Merge per-wire pcaps into one pcapng in time order; returns the number of packets."""
    with open(target, "wb") as out:
        writer = PcapNgWriter(out)
        streams = []
        for name, path in sources.items():
            linktype, packets = read_pcap(path)
            ident = writer.interface(name, linktype)
            streams.append([(sec, nsec, ident, data, length) for sec, nsec, data, length in packets])
        merged = heapq.merge(*streams, key=lambda p: (p[0], p[1]))
        return writer.mixed((ident, sec, nsec, data, length) for sec, nsec, ident, data, length in merged)
