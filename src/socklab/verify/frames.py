"""Frames pre-decoded with struct: the cheap header fields every check filters on.

Each captured frame becomes a `Frame` holding offsets and a few fields (EtherType,
addresses, IP protocol, ports, TCP flags, payload bounds). Matching runs over these;
scapy dissects only the handful of frames a result shows.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

from socklab.verify.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    Record,
)

ETH_IPV4, ETH_ARP, ETH_IPV6 = 0x0800, 0x0806, 0x86DD
_VLAN = (0x8100, 0x88A8)
_V6_EXT = (0, 43, 60, 51)  # hop-by-hop, routing, destination options, AH (fragment handled apart)
_u16 = struct.Struct("!H").unpack_from
_u16x2 = struct.Struct("!HH").unpack_from
_u32x2 = struct.Struct("!II").unpack_from

TCP_FLAGS = "FSRPAUECN"  # bit i of the 9-bit flags field is TCP_FLAGS[i] (scapy's letters)


class Capture:
    """One capture file: its key ("node:iface"), path, display name and first timestamp."""

    __slots__ = ("key", "path", "name", "truncated")

    def __init__(self, key: str, path, truncated: bool = False):
        self.key, self.path, self.truncated = key, path, truncated
        self.name = getattr(path, "name", str(path))


class Frame:
    """A captured frame with its cheap fields decoded. Offsets index `data`; -1/None when absent.

    esrc/edst: MACs (6 bytes); etype: EtherType after VLAN tags; l3: network header offset;
    ipv: 4, 6 or 0; ipsrc/ipdst: packed IP addresses (for ARP: sender/target protocol address);
    proto: IP protocol (IPv6: upper layer after extension headers); l4: transport header offset;
    l4p: proto if that transport header was decoded (6, 17, 1, 58) else -1; ipend: end of the IP
    packet (Ethernet padding excluded); sport/dport/tflags: TCP/UDP fields; pl..pe: payload.
    """

    __slots__ = (
        "cap", "no", "ts", "lt", "data", "wirelen", "esrc", "edst", "etype", "l3", "ipv",
        "ipsrc", "ipdst", "proto", "l4", "l4p", "ipend", "sport", "dport", "tflags", "pl", "pe",
    )

    def __init__(self, cap, no, ts, lt, data, wirelen, esrc, edst, etype, l3, ipv, ipsrc, ipdst,
                 proto, l4, l4p, ipend, sport, dport, tflags, pl, pe):
        self.cap, self.no, self.ts, self.lt, self.data, self.wirelen = cap, no, ts, lt, data, wirelen
        self.esrc, self.edst, self.etype, self.l3, self.ipv = esrc, edst, etype, l3, ipv
        self.ipsrc, self.ipdst, self.proto, self.l4, self.l4p = ipsrc, ipdst, proto, l4, l4p
        self.ipend, self.sport, self.dport, self.tflags, self.pl, self.pe = ipend, sport, dport, tflags, pl, pe

    def __repr__(self) -> str:
        return f"<Frame {self.cap.key} #{self.no} {summary(self)}>"

    @property
    def payload(self) -> bytes:
        return self.data[self.pl : self.pe]

    @property
    def where(self) -> str:
        return f"{self.cap.name} #{self.no}"

    # Fields read on demand (rarely needed, so not decoded for every frame).
    def ttl(self) -> int | None:
        if self.ipv == 4:
            return self.data[self.l3 + 8]
        if self.ipv == 6:
            return self.data[self.l3 + 7]
        return None

    def u8(self, off: int) -> int | None:
        return self.data[off] if 0 <= off < len(self.data) else None

    def u16(self, off: int) -> int | None:
        return _u16(self.data, off)[0] if 0 <= off and off + 2 <= len(self.data) else None

    def seq_ack(self) -> tuple[int, int]:
        return _u32x2(self.data, self.l4 + 4)

    def is_arp(self) -> bool:
        return self.etype == ETH_ARP and self.ipsrc is not None


def decode(cap: Capture, records: Iterable[Record]) -> list[Frame]:
    """Pre-decode every record of one capture (frame numbers start at 1, as in Wireshark)."""
    out: list[Frame] = []
    append = out.append
    u16 = _u16
    for no, (ts, lt, d, wl) in enumerate(records, 1):
        n = len(d)
        esrc = edst = ipsrc = ipdst = sport = dport = tflags = None
        etype = None
        ipv, proto, l4, l4p = 0, -1, -1, -1
        if lt == LINKTYPE_ETHERNET:
            if n < 14:
                append(Frame(cap, no, ts, lt, d, wl, None, None, None, n, 0, None, None, -1, -1, -1, n, None, None, None, n, n))
                continue
            edst, esrc, etype, l3 = d[0:6], d[6:12], (d[12] << 8) | d[13], 14
            while etype in _VLAN and n >= l3 + 4:
                etype = (d[l3 + 2] << 8) | d[l3 + 3]
                l3 += 4
        elif lt == LINKTYPE_LINUX_SLL2:
            if n < 20:
                append(Frame(cap, no, ts, lt, d, wl, None, None, None, n, 0, None, None, -1, -1, -1, n, None, None, None, n, n))
                continue
            etype, l3 = u16(d, 0)[0], 20
            if d[11] == 6:
                esrc = d[12:18]
        elif lt == LINKTYPE_LINUX_SLL:
            if n < 16:
                append(Frame(cap, no, ts, lt, d, wl, None, None, None, n, 0, None, None, -1, -1, -1, n, None, None, None, n, n))
                continue
            etype, l3 = u16(d, 14)[0], 16
            if u16(d, 4)[0] == 6:
                esrc = d[6:12]
        else:  # raw IP link types
            l3 = 0
            v = d[0] >> 4 if n else 0
            etype = ETH_IPV4 if (lt == LINKTYPE_IPV4 or (lt == LINKTYPE_RAW and v == 4)) else (
                ETH_IPV6 if (lt == LINKTYPE_IPV6 or (lt == LINKTYPE_RAW and v == 6)) else None
            )
        ipend = pl = n
        if etype == ETH_IPV4 and n >= l3 + 20 and d[l3] >> 4 == 4:
            ipv = 4
            ihl = (d[l3] & 15) * 4
            tl, frag = u16(d, l3 + 2)[0], u16(d, l3 + 6)[0]
            ipend = l3 + tl
            if ipend > n or tl < ihl:
                ipend = n
            proto = d[l3 + 9]
            ipsrc, ipdst = d[l3 + 12 : l3 + 16], d[l3 + 16 : l3 + 20]
            pl = l3 + ihl
            if not frag & 0x1FFF:
                l4 = pl
        elif etype == ETH_IPV6 and n >= l3 + 40 and d[l3] >> 4 == 6:
            ipv = 6
            plen = u16(d, l3 + 4)[0]
            ipend = l3 + 40 + plen
            if ipend > n or plen == 0:
                ipend = n
            proto = d[l3 + 6]
            ipsrc, ipdst = d[l3 + 8 : l3 + 24], d[l3 + 24 : l3 + 40]
            off = l3 + 40
            first = True
            while off + 8 <= ipend:
                if proto in _V6_EXT:
                    nxt = d[off]
                    off += (d[off + 1] + 2) * 4 if proto == 51 else (d[off + 1] + 1) * 8
                    proto = nxt
                elif proto == 44:
                    first = not (u16(d, off + 2)[0] >> 3)
                    proto = d[off]
                    off += 8
                else:
                    break
            pl = min(off, ipend)
            if first:
                l4 = pl
        elif etype == ETH_ARP and n >= l3 + 28 and d[l3 + 4] == 6 and d[l3 + 5] == 4:
            ipsrc, ipdst = d[l3 + 14 : l3 + 18], d[l3 + 24 : l3 + 28]
            pl = ipend = l3 + 28
        else:
            pl = l3 if l3 <= n else n
        if l4 >= 0:
            if proto == 6 and ipend >= l4 + 20:
                sport, dport = _u16x2(d, l4)
                tflags = ((d[l4 + 12] & 1) << 8) | d[l4 + 13]
                pl = l4 + (d[l4 + 12] >> 4) * 4
                l4p = 6
            elif proto == 17 and ipend >= l4 + 8:
                sport, dport = _u16x2(d, l4)
                pl = l4 + 8
                l4p = 17
            elif (proto == 1 or proto == 58) and ipend >= l4 + 8:
                pl = l4 + 8
                l4p = proto
            if pl > ipend:
                pl = ipend
        append(Frame(cap, no, ts, lt, d, wl, esrc, edst, etype, l3, ipv, ipsrc, ipdst, proto, l4, l4p, ipend, sport, dport, tflags, pl, ipend))
    return out


# ---------------------------------------------------------------------------------------------
# Checksums (computed, never trusted) and lengths.


def inet_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of data, via one big-integer sum (fast in CPython)."""
    if len(data) % 2:
        data += b"\0"
    total = int.from_bytes(data, "big") % 0xFFFF  # 2**16 ≡ 1 (mod 0xffff): same as folding
    if total == 0 and any(data):
        total = 0xFFFF
    return ~total & 0xFFFF


def checksum_fields(f: Frame) -> list[tuple[str, int, int, int | None]]:
    """(label, offset in frame, value in frame, correct value) for each checksum the frame carries.

    Correct is None when the frame was cut short by the snap length and cannot be checked.
    UDP over IPv4 with checksum 0 means "no checksum" and counts as correct.
    """
    d = f.data
    out: list[tuple[str, int, int, int | None]] = []
    truncated = f.wirelen > len(d)
    if f.ipv == 4:
        ihl = (d[f.l3] & 15) * 4
        if len(d) >= f.l3 + ihl:
            hdr = d[f.l3 : f.l3 + 10] + b"\0\0" + d[f.l3 + 12 : f.l3 + ihl]
            value, correct = _u16(d, f.l3 + 10)[0], inet_checksum(hdr)
            out.append(("IPv4 header checksum", f.l3 + 10, value, value if {value, correct} == {0, 0xFFFF} else correct))
    if f.l4p < 0:
        return out
    label, off = {6: ("TCP checksum", 16), 17: ("UDP checksum", 6), 1: ("ICMP checksum", 2), 58: ("ICMPv6 checksum", 2)}[f.l4p]
    pos = f.l4 + off
    value = _u16(d, pos)[0]
    if truncated:
        out.append((label, pos, value, None))
        return out
    seg = d[f.l4 : pos] + b"\0\0" + d[pos + 2 : f.ipend]
    if f.l4p == 1:
        correct = inet_checksum(seg)
    else:
        if f.ipv == 4:
            pseudo = f.ipsrc + f.ipdst + struct.pack("!BBH", 0, f.proto, len(seg))
        else:
            pseudo = f.ipsrc + f.ipdst + struct.pack("!IxxxB", len(seg), f.proto)
        correct = inet_checksum(pseudo + seg)
        if f.l4p == 17:
            if value == 0 and f.ipv == 4:
                correct = 0  # checksum not used
            elif correct == 0:
                correct = 0xFFFF
    if f.l4p != 17 and value in (0, 0xFFFF) and correct in (0, 0xFFFF):
        correct = value  # +0 and -0 of ones' complement: incremental updates (RFC 1624) give either
    out.append((label, pos, value, correct))
    return out


def length_problems(f: Frame) -> list[tuple[str, int, str]]:
    """(what is wrong, offset of the length field, its correct value as text) per inconsistent length."""
    d = f.data
    out: list[tuple[str, int, str]] = []
    avail = f.wirelen - f.l3  # bytes after the link header on the wire
    may_pad = avail <= 46  # Ethernet pads its payload to 46 bytes
    if f.ipv == 4:
        ihl = (d[f.l3] & 15) * 4
        tl = _u16(d, f.l3 + 2)[0]
        if ihl < 20:
            out.append((f"IPv4 header length {ihl} bytes (IHL {ihl // 4}), at least 20 expected", f.l3, "5"))
        if tl > avail or (tl < avail and not may_pad) or tl < ihl:
            out.append((f"IPv4 total length {tl}, but {avail} bytes follow the link header", f.l3 + 2, str(avail)))
        iplen = min(tl, avail)
        if f.l4p == 17:
            ulen = _u16(d, f.l4 + 4)[0]
            if ulen != iplen - ihl:
                out.append((f"UDP length {ulen}, but the IP payload is {iplen - ihl} bytes", f.l4 + 4, str(iplen - ihl)))
        if f.l4p == 6:
            doff = (d[f.l4 + 12] >> 4) * 4
            if doff < 20 or doff > iplen - ihl:
                out.append((f"TCP data offset {doff // 4} ({doff} bytes) outside the segment", f.l4 + 12, "5"))
    elif f.ipv == 6:
        plen = _u16(d, f.l3 + 4)[0]
        if plen + 40 > avail or (plen + 40 < avail and not may_pad):
            out.append((f"IPv6 payload length {plen}, but {avail - 40} bytes follow the IPv6 header", f.l3 + 4, str(avail - 40)))
        if f.l4p == 17:
            ulen = _u16(d, f.l4 + 4)[0]
            want = f.l3 + 40 + min(plen, avail - 40) - f.l4
            if ulen != want:
                out.append((f"UDP length {ulen}, but the IP payload is {want} bytes", f.l4 + 4, str(want)))
    return out


# ---------------------------------------------------------------------------------------------
# Display.


def ip_text(b: bytes | None) -> str:
    if b is None:
        return "-"
    if len(b) == 4:
        return socket.inet_ntoa(b)
    return socket.inet_ntop(socket.AF_INET6, b)


def mac_text(b: bytes | None) -> str:
    return "-" if b is None else ":".join(f"{x:02x}" for x in b)


def flags_text(mask: int | None) -> str:
    if mask is None:
        return "-"
    return "".join(c for i, c in enumerate(TCP_FLAGS) if mask >> i & 1) or "none"


_ICMP_NAMES = {0: "echo-reply", 3: "dest-unreach", 5: "redirect", 8: "echo-request", 11: "time-exceeded"}
_ICMP6_NAMES = {1: "dest-unreach", 2: "packet-too-big", 3: "time-exceeded", 128: "echo-request",
                129: "echo-reply", 133: "router-solicitation", 134: "router-advertisement",
                135: "neighbor-solicitation", 136: "neighbor-advertisement", 143: "mld-report"}
_ETYPE_NAMES = {ETH_IPV4: "IPv4", ETH_ARP: "ARP", ETH_IPV6: "IPv6"}


def preview(data: bytes, limit: int = 40) -> str:
    """A short repr of payload bytes: text when printable, else hex; trailing zero padding counted apart."""
    if not data:
        return "''"
    body = data.rstrip(b"\0")
    if body and len(data) - len(body) >= 4:
        return preview(body, limit) + f" + {len(data) - len(body)} zero bytes"
    cut = data[:limit]
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in cut) >= len(cut) * 0.8
    more = "…" if len(data) > limit else ""
    if printable:
        return repr(cut.decode("latin-1")) + more
    return "0x" + cut.hex() + more


def hostport(addr: bytes | None, port: int | None) -> str:
    """192.168.11.11:12345 or [fd00::11]:12345."""
    a = ip_text(addr)
    if port is None:
        return a
    return f"[{a}]:{port}" if ":" in a else f"{a}:{port}"


def _hp(f: Frame, addr: bytes | None, port: int | None) -> str:
    return hostport(addr, port)


def summary(f: Frame) -> str:
    """One line, numeric, tcpdump-like: what a student needs to recognise a packet."""
    d = f.data
    pay = f.data[f.pl : f.pe]
    tail = f" len={len(pay)} {preview(pay)}" if pay else ""
    if f.ipv:
        ipname = "IPv4" if f.ipv == 4 else "IPv6"
        if f.l4p == 6:
            seq, ack = f.seq_ack()
            return (f"TCP {_hp(f, f.ipsrc, f.sport)} > {_hp(f, f.ipdst, f.dport)} "
                    f"[{flags_text(f.tflags)}] seq={seq} ack={ack}{tail}")
        if f.l4p == 17:
            return f"UDP {_hp(f, f.ipsrc, f.sport)} > {_hp(f, f.ipdst, f.dport)}{tail}"
        if f.l4p in (1, 58):
            t, c = d[f.l4], d[f.l4 + 1]
            names = _ICMP_NAMES if f.l4p == 1 else _ICMP6_NAMES
            what = names.get(t, f"type={t}") + (f" code={c}" if c else "")
            if t in ((0, 8) if f.l4p == 1 else (128, 129)):
                what += " id={} seq={}".format(*_u16x2(d, f.l4 + 4))
            return f"{'ICMP' if f.l4p == 1 else 'ICMPv6'} {ip_text(f.ipsrc)} > {ip_text(f.ipdst)} {what}{tail}"
        return f"{ipname} {ip_text(f.ipsrc)} > {ip_text(f.ipdst)} proto={f.proto}{tail}"
    if f.is_arp():
        op = _u16(d, f.l3 + 6)[0]
        if op == 1:
            return f"ARP who-has {ip_text(f.ipdst)} tell {ip_text(f.ipsrc)} ({mac_text(d[f.l3 + 8 : f.l3 + 14])})"
        if op == 2:
            return f"ARP {ip_text(f.ipsrc)} is-at {mac_text(d[f.l3 + 8 : f.l3 + 14])}"
        return f"ARP op={op} {ip_text(f.ipsrc)} > {ip_text(f.ipdst)}"
    if f.etype is None:
        return f"frame of {len(d)} bytes (link type {f.lt}, not decoded)"
    name = _ETYPE_NAMES.get(f.etype, f"0x{f.etype:04x}")
    return f"Ether {mac_text(f.esrc)} > {mac_text(f.edst)} type={name}{tail}"


def dedup_key(f: Frame) -> bytes:
    """What stays the same when one packet is seen on several captures (TTL/checksum may change)."""
    d, l3 = f.data, f.l3
    if f.ipv == 4:
        return d[l3 : l3 + 8] + d[l3 + 9 : l3 + 10] + d[l3 + 12 : f.ipend]
    if f.ipv == 6:
        return d[l3 : l3 + 7] + d[l3 + 8 : f.ipend]
    return (f.etype or 0).to_bytes(2, "big") + d[l3:]
