"""Captured frames grouped into conversations, with each endpoint named after its lab node.

A conversation is what a student thinks of as one exchange: a TCP connection or a UDP
flow (by address and port pair), ICMP between two addresses, ARP on a wire, other
EtherTypes between two MACs. Frames are pre-decoded by verify's struct-only decoder, so
100k packets group in a fraction of a second.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from socklab.verify.frames import ETH_ARP, Frame, flags_text, hostport, ip_text, mac_text, preview

_FLAG_NAMES = {"S": "SYN", "F": "FIN", "R": "RST", "P": "PSH", "A": "ACK", "U": "URG", "E": "ECE", "C": "CWR", "N": "NS"}
_FLAG_ORDER = "SFRPAUECN"
BROADCAST = b"\xff" * 6


@dataclass
class Endpoints:
    """Who is who in the lab: packed IP address or MAC -> node name (from the run's plan)."""

    by_ip: dict[bytes, str] = field(default_factory=dict)
    by_mac: dict[bytes, str] = field(default_factory=dict)

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> Endpoints:
        import ipaddress

        out = cls()
        for node in plan.get("nodes", []):
            for iface in node.get("interfaces", []):
                if iface.get("mac"):
                    out.by_mac[bytes.fromhex(iface["mac"].replace(":", ""))] = node["name"]
                for addr in (*iface.get("ipv4", []), *iface.get("ipv6", [])):
                    out.by_ip[ipaddress.ip_interface(addr).ip.packed] = node["name"]
        return out

    def ip_name(self, addr: bytes | None, mac: bytes | None = None) -> str:
        """The node holding an address; else the node of the frame's MAC (link-local, DHCP...)."""
        return self.by_ip.get(addr or b"") or self.by_mac.get(mac or b"") or ip_text(addr)

    def mac_name(self, mac: bytes | None) -> str:
        if mac == BROADCAST:
            return "broadcast"
        return self.by_mac.get(mac or b"", mac_text(mac))


@dataclass
class Conversation:
    """Frames of one exchange on one capture point.

    Grouping uses raw bytes only; names, lifelines and the per-frame src/dst (indexes into
    lifelines) are resolved on demand (`resolve`), for the few conversations a report shows:
    a capture of 100k one-packet flows costs one dict lookup per frame.
    """

    point: str
    frames: list[Frame] = field(default_factory=list)
    wire_bytes: int = 0
    kind: str = ""  # TCP, UDP, ICMP, ICMPv6, ARP, IPv4 proto 102, Ether 0x88b5... (set by resolve)
    lifelines: list[tuple[str, str, str]] = field(default_factory=list)  # (key, node name, address)
    src: list[int] = field(default_factory=list)
    dst: list[int] = field(default_factory=list)

    @property
    def title(self) -> str:
        ends = " ⇄ ".join(f"{name} {addr}" if addr != name else name for _, name, addr in self.lifelines[:4])
        return f"{self.kind} {ends}"

    def lifeline(self, key: str, name: str, addr: str) -> int:
        for i, (k, _, _) in enumerate(self.lifelines):
            if k == key:
                return i
        self.lifelines.append((key, name, addr))
        return len(self.lifelines) - 1

    def resolve(self, names: Endpoints) -> Conversation:
        """Name the endpoints and place every frame between two lifelines (once)."""
        if self.kind:
            return self
        cache: dict[tuple[Any, ...], tuple[int, int]] = {}
        for f in self.frames:
            raw = (f.ipsrc, f.sport, f.ipdst, f.dport, f.esrc, f.edst)
            pair = cache.get(raw)
            if pair is None:
                self.kind, s, d = _ends(f, names)
                pair = cache[raw] = (self.lifeline(*s), self.lifeline(*d))
            self.src.append(pair[0])
            self.dst.append(pair[1])
        return self


def _raw_key(f: Frame) -> tuple[Any, ...]:
    """Which conversation a frame is in, from its bytes: both directions give the same key."""
    if f.ipv:
        if f.l4p in (6, 17):
            a, b = (f.ipsrc, f.sport), (f.ipdst, f.dport)
        else:
            a, b = (f.ipsrc, 0), (f.ipdst, 0)
        return (f.ipv, f.l4p if f.l4p >= 0 else -f.proto - 1, a, b) if a <= b else (f.ipv, f.l4p if f.l4p >= 0 else -f.proto - 1, b, a)  # type: ignore[operator]
    if f.is_arp():
        return ("arp",)
    if f.etype is None:
        return ("frames",)
    a, b = f.esrc or b"", f.edst or b""
    return (f.etype, a, b) if a <= b else (f.etype, b, a)


def _ends(f: Frame, names: Endpoints) -> tuple[str, tuple[str, str, str], tuple[str, str, str]]:
    """(conversation kind, source lifeline, destination lifeline) of a frame."""
    if f.ipv:
        if f.l4p in (6, 17):
            kind = "TCP" if f.l4p == 6 else "UDP"
            s, d = hostport(f.ipsrc, f.sport), hostport(f.ipdst, f.dport)
        else:
            kind = {1: "ICMP", 58: "ICMPv6"}.get(f.l4p, f"IPv{f.ipv} proto {f.proto}")
            s, d = ip_text(f.ipsrc), ip_text(f.ipdst)
        return kind, (s, names.ip_name(f.ipsrc, f.esrc), s), (d, names.ip_name(f.ipdst, f.edst), d)
    s, d = mac_text(f.esrc), mac_text(f.edst)
    if f.is_arp():
        return "ARP", (s, names.mac_name(f.esrc), s), (d, names.mac_name(f.edst), d)
    kind = "frames" if f.etype is None else f"Ether 0x{f.etype:04x}"
    return kind, (s, names.mac_name(f.esrc), s), (d, names.mac_name(f.edst), d)


def group(point: str, frames: list[Frame]) -> list[Conversation]:
    """The conversations of one capture, in order of their first frame (unresolved)."""
    convs: dict[tuple[Any, ...], Conversation] = {}
    get = convs.get
    for f in frames:
        key = _raw_key(f)
        conv = get(key)
        if conv is None:
            conv = convs[key] = Conversation(point)
        conv.frames.append(f)
        conv.wire_bytes += f.wirelen
    return list(convs.values())


def conversation_key_of_summary(text: str) -> tuple[str, frozenset[str]] | None:
    """The conversation a one-line summary ("TCP a:p > b:q [S] ...") belongs to, if it names one."""
    parts = text.split()
    if len(parts) >= 4 and parts[2] == ">":
        kind = parts[0]
        if kind in ("TCP", "UDP", "ICMP", "ICMPv6"):
            return kind, frozenset((parts[1], parts[3]))
    return None


class TcpNumbers:
    """Relative sequence and acknowledgement numbers per direction, as Wireshark shows them."""

    def __init__(self) -> None:
        self.base: dict[tuple[int, int], int] = {}

    def relative(self, conv: Conversation, i: int) -> tuple[int, int]:
        f = conv.frames[i]
        seq, ack = f.seq_ack()
        s, d = conv.src[i], conv.dst[i]
        base = self.base.setdefault((s, d), seq)
        rseq = (seq - base) % 2**32
        rack = (ack - self.base[(d, s)]) % 2**32 if (d, s) in self.base and f.tflags and f.tflags & 16 else ack
        return rseq, rack


def flag_words(mask: int | None) -> str:
    letters = flags_text(mask)
    if letters in ("-", "none"):
        return letters
    return "+".join(_FLAG_NAMES[c] for c in _FLAG_ORDER if c in letters)


def describe(conv: Conversation, i: int, numbers: TcpNumbers) -> tuple[str, str]:
    """(label above the arrow, payload preview below it) for the i-th frame of a conversation."""
    f = conv.frames[i]
    pay = f.data[f.pl : f.pe]
    tail = f" len={len(pay)}" if pay else ""
    shown = preview(pay, 44) if pay else ""
    if len(shown) > 50:
        shown = shown[:49] + "…"
    if f.l4p == 6:
        rseq, rack = numbers.relative(conv, i)
        acks = f" ack={rack}" if f.tflags and f.tflags & 16 else ""
        return f"{flag_words(f.tflags)} seq={rseq}{acks}{tail}", shown
    if f.l4p == 17:
        return f"UDP{tail or ' len=0'}", shown
    if f.l4p in (1, 58):
        from socklab.verify.frames import summary

        text = summary(f)
        what = text.split(" ", 4)[4] if text.count(" ") >= 4 else text
        return what.split(" len=")[0], shown
    if f.is_arp():
        op = struct.unpack_from("!H", f.data, f.l3 + 6)[0]
        if op == 1:
            return f"who-has {ip_text(f.ipdst)}? tell {ip_text(f.ipsrc)}", ""
        return f"{ip_text(f.ipsrc)} is-at {mac_text(f.data[f.l3 + 8 : f.l3 + 14])}", ""
    if f.ipv:
        return f"proto {f.proto}{tail}", shown
    if f.etype == ETH_ARP:
        return "ARP (malformed)", ""
    return (f"type 0x{f.etype:04x}{tail}" if f.etype is not None else f"{len(f.data)} bytes"), shown
