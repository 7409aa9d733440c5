"""The one packet matcher: a PacketMatch compiled into constraints over pre-decoded frames.

Each constraint is a small test on a `Frame` plus what a person needs when it fails: its
label, the expected value, the value seen, the scapy field it concerns and the bytes it
covers. A frame matches when all constraints hold; when none matches, the frame passing
the most constraints is the "nearest" one and its failing constraints explain the miss.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from socklab.model.expectations import PacketMatch
from socklab.verify.endpoints import Ends, Resolver, pack_ip, pack_mac, split_endpoint
from socklab.verify.frames import (
    ETH_ARP,
    TCP_FLAGS,
    Frame,
    checksum_fields,
    flags_text,
    ip_text,
    length_problems,
    mac_text,
    preview,
)
from socklab.verify.pcap import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2

_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from


# ---------------------------------------------------------------------------------------------
# Constraints.

FieldRef = tuple[tuple[str, ...], str]  # (scapy layer names, field name)


@dataclass
class C:
    """One constraint. desc reads as a requirement ("UDP destination port 12345")."""

    desc: str
    label: str
    expected: str
    test: Callable[[Frame], bool]
    seen: Callable[[Frame], str]
    fields: Sequence[FieldRef] = ()
    span: Callable[[Frame], list[tuple[int, int, bytes | None]]] | None = None
    layer: str | None = None  # the layer constraint this field constraint depends on
    slow: bool = False
    phrase: Callable[[Frame], str] | None = None
    is_layer: bool = False
    role: str = ""  # "from" / "to" / "time": used for "no packet from X at all"

    def why(self, f: Frame) -> str:
        if self.phrase is not None:
            return self.phrase(f)
        return f"{self.label} {self.seen(f)}, expected {self.expected}"


def _at(off: Callable[[Frame], int], size: int, want: bytes | None = None):
    return lambda f: [(off(f), off(f) + size, want)]


def _mac_offset(f: Frame, src: bool) -> int | None:
    """Where the source/destination MAC sits in the link header (cooked captures have no destination)."""
    if f.lt == LINKTYPE_ETHERNET:
        return 6 if src else 0
    if src and f.esrc is not None:
        return 12 if f.lt == LINKTYPE_LINUX_SLL2 else 6
    return None


def _etype_offset(f: Frame) -> int:
    return 0 if f.lt == LINKTYPE_LINUX_SLL2 else f.l3 - 2


def _stack(f: Frame) -> str:
    """What the frame is, in protocol terms, for 'expected UDP, seen TCP'."""
    names = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6"}
    if f.l4p in names:
        return names[f.l4p]
    if f.ipv:
        return f"IPv{f.ipv} protocol {f.proto}"
    if f.is_arp():
        return "ARP"
    if f.etype is None:
        return "an undecoded frame"
    return f"EtherType 0x{f.etype:04x}"


def _layer(name: str, test: Callable[[Frame], bool], fields: Sequence[FieldRef] = ()) -> C:
    return C(
        desc=name, label=name, expected="present", test=test, seen=_stack, fields=fields,
        phrase=lambda f: f"expected {name}, seen {_stack(f)}", is_layer=True,
    )


def _field(layer: str, label: str, expected, get: Callable[[Frame], object], fields: Sequence[FieldRef],
           show: Callable[[object], str] = str, span=None, present: Callable[[Frame], bool] | None = None) -> C:
    """A constraint `get(frame) == expected`, only meaningful when `present(frame)` (the layer)."""
    if present is None:
        test = lambda f: get(f) == expected  # noqa: E731
    else:
        test = lambda f: present(f) and get(f) == expected  # noqa: E731

    def seen(f: Frame) -> str:
        if present is not None and not present(f):
            return "absent"
        return show(get(f))

    return C(desc=f"{label} {show(expected)}", label=label, expected=show(expected), test=test,
             seen=seen, fields=fields, span=span, layer=layer)


def _hexn(n: int) -> Callable[[object], str]:
    return lambda v: "-" if v is None else f"0x{v:0{n}x}"


def _ipflags_text(v: object) -> str:
    if v is None:
        return "-"
    names = [n for bit, n in ((4, "evil"), (2, "DF"), (1, "MF")) if v & bit]  # type: ignore[operator]
    return "+".join(names) or "none"


_ETH = ("Ether",)
_SLL = ("CookedLinux", "CookedLinuxV2")
_ICMP6 = ("ICMPv6",)  # prefix: every scapy ICMPv6 class name starts with it
_BY_ETYPE: list[FieldRef] = [(_ETH, "type"), (_SLL, "proto")]  # the field that decides the layer
_BY_PROTO: list[FieldRef] = [(("IP",), "proto"), (("IPv6",), "nh")]


@dataclass
class Matcher:
    """A compiled packet matcher."""

    constraints: list[C]
    text: str = ""
    shape: Callable[[Frame], bool] | None = None  # tie-breaker for nearest: same kind of packet

    def __post_init__(self) -> None:
        self.fast = tuple(c.test for c in self.constraints if not c.slow)
        self.slow = tuple(c.test for c in self.constraints if c.slow)
        if not self.text:
            self.text = ", ".join(c.desc for c in self.constraints) or "any packet"

    def match(self, f: Frame) -> bool:
        for t in self.fast:
            if not t(f):
                return False
        for t in self.slow:
            if not t(f):
                return False
        return True

    def select(self, frames: Iterable[Frame]) -> list[Frame]:
        fast, slow = self.fast, self.slow
        out = []
        for f in frames:
            for t in fast:
                if not t(f):
                    break
            else:
                for t in slow:
                    if not t(f):
                        break
                else:
                    out.append(f)
        return out

    def score(self, f: Frame) -> int:
        n = sum(1 for t in self.fast if t(f))
        if n == len(self.fast):
            n += sum(1 for t in self.slow if t(f))
        return n

    def nearest(self, frames: Iterable[Frame]) -> Frame | None:
        """The frame passing the most constraints; among equals, one of the same kind, then the earliest."""
        best, best_score = None, -1
        shape = self.shape
        for f in frames:
            s = self.score(f) * 2 + (1 if shape is not None and shape(f) else 0)
            if s > best_score:
                best, best_score = f, s
        return best

    def failing(self, f: Frame) -> list[C]:
        """The constraints f fails, leaving out fields of a layer that is itself missing."""
        bad = [c for c in self.constraints if not c.test(f)]
        missing = {c.label for c in bad if c.is_layer}
        return [c for c in bad if c.layer not in missing]

    def explain(self, f: Frame) -> str:
        return "; ".join(c.why(f) for c in self.failing(f))

    def role(self, role: str) -> C | None:
        return next((c for c in self.constraints if c.role == role), None)


def compile_packet(m: PacketMatch, res: Resolver, extra: Sequence[C] = ()) -> Matcher:
    """Turn a PacketMatch into a Matcher. Raises SpecError for names unknown to the lab."""
    cs: list[C] = []
    if m.from_ is not None:
        cs += _endpoint_constraints(res.endpoint(m.from_), res, src=True)
    if m.to is not None:
        cs += _endpoint_constraints(res.endpoint(m.to), res, src=False)
    if m.ether is not None:
        cs += _ether(m)
    if m.arp is not None:
        cs += _arp(m)
    if m.ipv4 is not None:
        cs += _ipv4(m)
    if m.ipv6 is not None:
        cs += _ipv6(m)
    if m.icmp is not None:
        cs += _icmp(m.icmp, 1, "ICMP", ("ICMP",))
    if m.icmpv6 is not None:
        cs += _icmp(m.icmpv6, 58, "ICMPv6", _ICMP6)
    if m.tcp is not None:
        cs += _tcp(m)
    if m.udp is not None:
        cs += _udp(m)
    if m.payload is not None:
        cs += _payload(m)
    cs += extra
    if m.checksums == "valid":
        cs.append(_checksums())
    if m.lengths == "consistent":
        cs.append(_lengths())
    shape = _shape(m)
    if m.payload is not None and shape is not None:
        # a near miss about the payload is best explained by a packet that carries one
        kind = shape
        shape = lambda f: kind(f) and f.pe > f.pl  # noqa: E731
    elif m.payload is not None:
        shape = lambda f: f.pe > f.pl  # noqa: E731
    return Matcher(cs, shape=shape)


def _shape(m: PacketMatch) -> Callable[[Frame], bool] | None:
    """What kind of packet m describes, to prefer a near miss of that kind (raw IP vs TCP...)."""
    for name, proto in (("tcp", 6), ("udp", 17), ("icmp", 1), ("icmpv6", 58)):
        if getattr(m, name) is not None:
            return lambda f, p=proto: f.l4p == p
    if m.arp is not None:
        return Frame.is_arp
    ip = m.ipv4 or m.ipv6
    if ip is not None:
        want = m.ipv4.proto if m.ipv4 is not None else m.ipv6.nh  # type: ignore[union-attr]
        v = 4 if m.ipv4 is not None else 6
        if want is not None and want not in (6, 17, 1, 58):
            return lambda f: f.ipv == v and f.l4p < 0
        return lambda f: f.ipv == v
    if m.ether is not None and m.ether.type is not None:
        return lambda f: f.ipv == 0 and not f.is_arp()
    return None


def _endpoint_constraints(e: Ends, res: Resolver, src: bool) -> list[C]:
    word = "from" if src else "to"
    has = (lambda f: f.ipsrc in e.ips or f.esrc in e.macs) if src else (lambda f: f.ipdst in e.ips or f.edst in e.macs)
    if not e.ips:
        has = (lambda f: f.esrc in e.macs) if src else (lambda f: f.edst in e.macs)
    elif not e.macs:
        has = (lambda f: f.ipsrc in e.ips) if src else (lambda f: f.ipdst in e.ips)
    host = split_endpoint(e.spec)[0] if e.port is not None else e.spec

    def seen(f: Frame) -> str:
        ip, mac = (f.ipsrc, f.esrc) if src else (f.ipdst, f.edst)
        if ip is not None:
            return res.name_ip(ip) + (f" / MAC {res.name_mac(mac)}" if mac is not None and res.owner.get(mac) != res.owner.get(ip) else "")
        return res.name_mac(mac)

    def spans(f: Frame) -> list[tuple[int, int, bytes | None]]:
        out: list[tuple[int, int, bytes | None]] = []
        if f.ipv == 4:
            out.append((f.l3 + (12 if src else 16), f.l3 + (16 if src else 20), None))
        elif f.ipv == 6:
            out.append((f.l3 + (8 if src else 24), f.l3 + (24 if src else 40), None))
        off = _mac_offset(f, src)
        if off is not None:
            out.append((off, off + 6, None))
        return out

    fields = [(("IP", "IPv6"), "src" if src else "dst"),
              (("ARP",), "psrc" if src else "pdst"), (_ETH + _SLL, "src" if src else "dst")]
    cs = [C(desc=f"{word} {host}", label=word, expected=host, test=has, seen=seen, fields=fields,
            span=spans, role=word, phrase=lambda f: f"{'source' if src else 'destination'} {seen(f)}, expected {host}")]
    if e.port is not None:
        port = e.port
        attr = "sport" if src else "dport"
        get = (lambda f: f.sport) if src else (lambda f: f.dport)
        cs.append(C(
            desc=f"{'source' if src else 'destination'} port {port}",
            label=f"{'source' if src else 'destination'} port", expected=str(port),
            test=lambda f: get(f) == port, seen=lambda f: "absent (no TCP/UDP)" if get(f) is None else str(get(f)),
            fields=[(("TCP", "UDP"), attr)], span=_at(lambda f: f.l4 + (0 if src else 2), 2, port.to_bytes(2, "big")),
        ))
    return cs


def _ether(m: PacketMatch) -> list[C]:
    e = m.ether
    assert e is not None
    cs = [_layer("Ethernet", lambda f: f.etype is not None, [])]
    for name, want, get in (("src", e.src, lambda f: f.esrc), ("dst", e.dst, lambda f: f.edst)):
        if want is None:
            continue
        wb, label = pack_mac(want), f"Ethernet {'source' if name == 'src' else 'destination'}"

        def span(f: Frame, src=name == "src", wb=wb):
            off = _mac_offset(f, src)
            return [] if off is None else [(off, off + 6, wb)]

        cs.append(C(desc=f"{label} {want}", label=label, expected=want, test=lambda f, g=get, wb=wb: g(f) == wb,
                    seen=lambda f, g=get: mac_text(g(f)), fields=[(_ETH + _SLL, name)], span=span, layer="Ethernet"))
    if e.type is not None:
        t = e.type
        cs.append(_field("Ethernet", "EtherType", t, lambda f: f.etype, [(_ETH, "type"), (_SLL, "proto")],
                         show=_hexn(4), span=_at(_etype_offset, 2, t.to_bytes(2, "big"))))
    return cs


def _arp(m: PacketMatch) -> list[C]:
    a = m.arp
    assert a is not None
    present = Frame.is_arp
    cs = [_layer("ARP", present, _BY_ETYPE)]
    A = ("ARP",)
    if a.op is not None:
        names = {1: "who-has (1)", 2: "is-at (2)"}
        cs.append(_field("ARP", "ARP operation", a.op, lambda f: _u16(f.data, f.l3 + 6)[0], [(A, "op")],
                         show=lambda v: names.get(v, str(v)), present=present,
                         span=_at(lambda f: f.l3 + 6, 2, a.op.to_bytes(2, "big"))))
    for name, want, get in (("psrc", a.psrc, lambda f: f.ipsrc), ("pdst", a.pdst, lambda f: f.ipdst)):
        if want is not None:
            cs.append(_field("ARP", f"ARP {name}", pack_ip(want), get, [(A, name)], show=ip_text, present=present))
    for name, want, off in (("hwsrc", a.hwsrc, 8), ("hwdst", a.hwdst, 18)):
        if want is not None:
            cs.append(_field("ARP", f"ARP {name}", pack_mac(want), lambda f, o=off: f.data[f.l3 + o : f.l3 + o + 6],
                             [(A, name)], show=mac_text, present=present))
    return cs


def _ipv4(m: PacketMatch) -> list[C]:
    ip = m.ipv4
    assert ip is not None
    present = lambda f: f.ipv == 4  # noqa: E731
    cs = [_layer("IPv4", present, _BY_ETYPE)]
    I4 = ("IP",)
    for name, want, off in (("src", ip.src, 12), ("dst", ip.dst, 16)):
        if want is not None:
            wb = pack_ip(want)
            cs.append(_field("IPv4", f"IPv4 {'source' if name == 'src' else 'destination'}", wb,
                             lambda f, o=off: f.data[f.l3 + o : f.l3 + o + 4], [(I4, name)], show=ip_text,
                             span=_at(lambda f, o=off: f.l3 + o, 4, wb), present=present))
    if ip.proto is not None:
        cs.append(_field("IPv4", "IP protocol", ip.proto, lambda f: f.proto, [(I4, "proto")],
                         span=_at(lambda f: f.l3 + 9, 1, bytes([ip.proto])), present=present))
    if ip.ttl is not None:
        cs.append(_field("IPv4", "IPv4 TTL", ip.ttl, lambda f: f.data[f.l3 + 8], [(I4, "ttl")],
                         span=_at(lambda f: f.l3 + 8, 1, bytes([ip.ttl])), present=present))
    if ip.flags is not None:
        cs.append(_field("IPv4", "IPv4 flags", ip.flags, lambda f: f.data[f.l3 + 6] >> 5, [(I4, "flags")],
                         show=_ipflags_text, span=_at(lambda f: f.l3 + 6, 1), present=present))
    if ip.id is not None:
        cs.append(_field("IPv4", "IPv4 id", ip.id, lambda f: _u16(f.data, f.l3 + 4)[0], [(I4, "id")],
                         span=_at(lambda f: f.l3 + 4, 2, ip.id.to_bytes(2, "big")), present=present))
    if ip.tos is not None:
        cs.append(_field("IPv4", "IPv4 TOS", ip.tos, lambda f: f.data[f.l3 + 1], [(I4, "tos")],
                         show=_hexn(2), span=_at(lambda f: f.l3 + 1, 1, bytes([ip.tos])), present=present))
    return cs


def _ipv6(m: PacketMatch) -> list[C]:
    ip = m.ipv6
    assert ip is not None
    present = lambda f: f.ipv == 6  # noqa: E731
    cs = [_layer("IPv6", present, _BY_ETYPE)]
    I6 = ("IPv6",)
    for name, want, off in (("src", ip.src, 8), ("dst", ip.dst, 24)):
        if want is not None:
            wb = pack_ip(want)
            cs.append(_field("IPv6", f"IPv6 {'source' if name == 'src' else 'destination'}", wb,
                             lambda f, o=off: f.data[f.l3 + o : f.l3 + o + 16], [(I6, name)], show=ip_text,
                             span=_at(lambda f, o=off: f.l3 + o, 16, wb), present=present))
    if ip.nh is not None:
        cs.append(_field("IPv6", "IPv6 next header", ip.nh, lambda f: f.proto, [(I6, "nh")], present=present))
    if ip.hlim is not None:
        cs.append(_field("IPv6", "IPv6 hop limit", ip.hlim, lambda f: f.data[f.l3 + 7], [(I6, "hlim")],
                         span=_at(lambda f: f.l3 + 7, 1, bytes([ip.hlim])), present=present))
    return cs


def _icmp(spec, proto: int, name: str, layers: tuple[str, ...]) -> list[C]:
    present = lambda f: f.l4p == proto  # noqa: E731
    cs = [_layer(name, present, _BY_PROTO)]
    if spec.type is not None:
        cs.append(_field(name, f"{name} type", spec.type, lambda f: f.data[f.l4], [(layers, "type")],
                         span=_at(lambda f: f.l4, 1, bytes([spec.type])), present=present))
    if spec.code is not None:
        cs.append(_field(name, f"{name} code", spec.code, lambda f: f.data[f.l4 + 1], [(layers, "code")],
                         span=_at(lambda f: f.l4 + 1, 1, bytes([spec.code])), present=present))
    if spec.id is not None:
        cs.append(_field(name, f"{name} id", spec.id, lambda f: _u16(f.data, f.l4 + 4)[0], [(layers, "id")],
                         span=_at(lambda f: f.l4 + 4, 2, spec.id.to_bytes(2, "big")), present=present))
    if spec.seq is not None:
        cs.append(_field(name, f"{name} seq", spec.seq, lambda f: _u16(f.data, f.l4 + 6)[0], [(layers, "seq")],
                         span=_at(lambda f: f.l4 + 6, 2, spec.seq.to_bytes(2, "big")), present=present))
    return cs


def icmpv6_types(types: Sequence[int], name: str) -> C:
    """ICMPv6 of one of these types (for the nd/mld presets)."""
    ts = frozenset(types)
    return C(desc=name, label=name, expected=f"ICMPv6 type in {sorted(ts)}",
             test=lambda f: f.l4p == 58 and f.data[f.l4] in ts,
             seen=lambda f: f"ICMPv6 type {f.data[f.l4]}" if f.l4p == 58 else _stack(f))


def _flags_mask(s: str) -> int:
    return sum(1 << TCP_FLAGS.index(c) for c in s)


def _tcp(m: PacketMatch) -> list[C]:
    t = m.tcp
    assert t is not None
    present = lambda f: f.l4p == 6  # noqa: E731
    cs = [_layer("TCP", present, _BY_PROTO)]
    T = ("TCP",)
    for name, want in (("sport", t.sport), ("dport", t.dport)):
        if want is not None:
            label = "TCP source port" if name == "sport" else "TCP destination port"
            cs.append(_field("TCP", label, want, (lambda f: f.sport) if name == "sport" else (lambda f: f.dport),
                             [(T, name)], span=_at(lambda f, o=(0 if name == "sport" else 2): f.l4 + o, 2, want.to_bytes(2, "big")),
                             present=present))
    fspan = _at(lambda f: f.l4 + 13, 1)
    if t.flags is not None:
        mask = _flags_mask(t.flags)
        cs.append(C(desc=f"TCP flags {t.flags or 'none'}", label="TCP flags", expected=t.flags or "none",
                    test=lambda f: f.tflags == mask, seen=lambda f: flags_text(f.tflags) if f.l4p == 6 else "absent",
                    fields=[(T, "flags")], span=fspan, layer="TCP"))
    if t.flags_include is not None:
        inc = _flags_mask(t.flags_include)
        cs.append(C(desc=f"TCP flags including {t.flags_include}", label="TCP flags",
                    expected=f"at least {t.flags_include}", test=lambda f: f.l4p == 6 and f.tflags & inc == inc,
                    seen=lambda f: flags_text(f.tflags) if f.l4p == 6 else "absent", fields=[(T, "flags")],
                    span=fspan, layer="TCP"))
    if t.seq is not None:
        cs.append(_field("TCP", "TCP seq", t.seq, lambda f: _u32(f.data, f.l4 + 4)[0], [(T, "seq")],
                         span=_at(lambda f: f.l4 + 4, 4, t.seq.to_bytes(4, "big")), present=present))
    if t.ack is not None:
        cs.append(_field("TCP", "TCP ack", t.ack, lambda f: _u32(f.data, f.l4 + 8)[0], [(T, "ack")],
                         span=_at(lambda f: f.l4 + 8, 4, t.ack.to_bytes(4, "big")), present=present))
    if t.window is not None:
        cs.append(_field("TCP", "TCP window", t.window, lambda f: _u16(f.data, f.l4 + 14)[0], [(T, "window")],
                         span=_at(lambda f: f.l4 + 14, 2, t.window.to_bytes(2, "big")), present=present))
    return cs


def _udp(m: PacketMatch) -> list[C]:
    u = m.udp
    assert u is not None
    present = lambda f: f.l4p == 17  # noqa: E731
    cs = [_layer("UDP", present, _BY_PROTO)]
    U = ("UDP",)
    for name, want in (("sport", u.sport), ("dport", u.dport)):
        if want is not None:
            label = "UDP source port" if name == "sport" else "UDP destination port"
            cs.append(_field("UDP", label, want, (lambda f: f.sport) if name == "sport" else (lambda f: f.dport),
                             [(U, name)], span=_at(lambda f, o=(0 if name == "sport" else 2): f.l4 + o, 2, want.to_bytes(2, "big")),
                             present=present))
    if u.len is not None:
        cs.append(_field("UDP", "UDP length", u.len, lambda f: _u16(f.data, f.l4 + 4)[0], [(U, "len")],
                         span=_at(lambda f: f.l4 + 4, 2, u.len.to_bytes(2, "big")), present=present))
    return cs


def _padded_equal(f: Frame, pay: bytes, want: bytes) -> bool:
    """Equality, tolerating Ethernet's zero padding after a frame whose length we cannot know."""
    if pay == want:
        return True
    return (f.ipv == 0 and f.etype != ETH_ARP and len(f.data) <= 60 and pay.startswith(want)
            and not pay[len(want):].strip(b"\0"))


def _payload(m: PacketMatch) -> list[C]:
    p = m.payload
    assert p is not None
    cs: list[C] = []
    fields = [(("Raw", "Padding"), "load")]
    span = lambda f: [(f.pl, f.pe, None)]  # noqa: E731

    def seen(f: Frame) -> str:
        pay = f.data[f.pl : f.pe]
        return f"{preview(pay, 60)} ({len(pay)} bytes)"

    def first_diff_span(want: bytes):
        def spans(f: Frame):
            pay = f.data[f.pl : f.pe]
            i = next((k for k, (a, b) in enumerate(zip(pay, want, strict=False)) if a != b), min(len(pay), len(want)))
            if i >= len(pay):
                return []  # the payload is a prefix of what was expected: nothing to point at
            return [(f.pl + i, f.pl + min(len(pay), max(len(want), i + 1)), want[i:])]

        return spans

    if p.equals is not None or p.hex is not None:
        want = p.hex_bytes() if p.hex is not None else p.equals.encode()  # type: ignore[union-attr]
        assert want is not None
        shown = f"0x{want.hex()}" if p.hex is not None else preview(want, 60)
        cs.append(C(desc=f"payload equal to {shown}", label="payload", expected=shown,
                    test=lambda f: _padded_equal(f, f.data[f.pl : f.pe], want), seen=seen,
                    fields=fields, span=first_diff_span(want)))
    if p.contains is not None:
        sub = p.contains.encode()
        cs.append(C(desc=f"payload containing {preview(sub, 60)}", label="payload",
                    expected=f"to contain {preview(sub, 60)}", test=lambda f: sub in f.data[f.pl : f.pe],
                    seen=seen, fields=fields, span=span,
                    phrase=lambda f: f"payload {seen(f)} does not contain {preview(sub, 60)}"))
    if p.regex is not None:
        rx = re.compile(p.regex.encode(), re.DOTALL)
        cs.append(C(desc=f"payload matching /{p.regex}/", label="payload", expected=f"to match /{p.regex}/",
                    test=lambda f: rx.search(f.data[f.pl : f.pe]) is not None, seen=seen, fields=fields, span=span,
                    phrase=lambda f: f"payload {seen(f)} does not match /{p.regex}/"))
    if p.length is not None:
        n = p.length
        cs.append(C(desc=f"payload of {n} bytes", label="payload length", expected=str(n),
                    test=lambda f: f.pe - f.pl == n, seen=lambda f: str(f.pe - f.pl), fields=fields, span=span))
    return cs


def _checksums() -> C:
    def bad(f: Frame):
        return [(lab, off, val, ok) for lab, off, val, ok in checksum_fields(f) if ok is not None and val != ok]

    def seen(f: Frame) -> str:
        b = bad(f)
        if not b:
            return "all valid"
        return ", ".join(f"{lab} 0x{val:04x} (correct 0x{ok:04x})" for lab, _, val, ok in b)

    def phrase(f: Frame) -> str:
        return "; ".join(f"{lab} 0x{val:04x}, correct would be 0x{ok:04x}" for lab, _, val, ok in bad(f))

    layer_of = {"IPv4 header checksum": ("IP",), "TCP checksum": ("TCP",), "UDP checksum": ("UDP",),
                "ICMP checksum": ("ICMP",), "ICMPv6 checksum": _ICMP6}

    return C(desc="valid checksums", label="checksums", expected="valid", test=lambda f: not bad(f), seen=seen,
             fields=_Dyn(lambda f: [(layer_of[lab], "chksum" if lab.startswith("IPv4") else "cksum") for lab, *_ in bad(f)]),
             span=lambda f: [(off, off + 2, ok.to_bytes(2, "big")) for _, off, _, ok in bad(f)],
             slow=True, phrase=phrase)


def _lengths() -> C:
    def phrase(f: Frame) -> str:
        return "; ".join(p for p, _, _ in length_problems(f))

    names = {"IPv4 total": ("IP", "len"), "IPv4 header": ("IP", "ihl"), "UDP": ("UDP", "len"),
             "TCP": ("TCP", "dataofs"), "IPv6": ("IPv6", "plen")}

    def fields(f: Frame):
        out = []
        for p, _, _ in length_problems(f):
            for k, (lay, fld) in names.items():
                if p.startswith(k):
                    out.append(((lay,), fld))
                    break
        return out

    return C(desc="consistent lengths", label="lengths", expected="consistent", test=lambda f: not length_problems(f),
             seen=lambda f: phrase(f) or "consistent", fields=_Dyn(fields),
             span=lambda f: [(off, off + 2, None) for _, off, _ in length_problems(f)], slow=True, phrase=phrase)


class _Dyn(tuple):
    """Field references computed per frame (for checksums/lengths, which depend on the frame)."""

    def __new__(cls, fn):
        obj = super().__new__(cls, ())
        obj.fn = fn
        return obj


def fields_of(c: C, f: Frame) -> list[FieldRef]:
    if isinstance(c.fields, _Dyn):
        return c.fields.fn(f)
    return list(c.fields)


def seconds_text(s: float) -> str:
    """2 -> "2s", 0.5 -> "500ms", 0.0015 -> "1.5ms"."""
    return f"{s:g}s" if s >= 1 else f"{s * 1000:g}ms"


def window_constraint(lo: float, hi: float | None, what: str, t_ref: float) -> C:
    """Frames seen within [lo, hi] (epoch seconds); `what` names the window in messages."""

    def test(f: Frame) -> bool:
        return f.ts >= lo and (hi is None or f.ts <= hi)

    def seen(f: Frame) -> str:
        return f"{f.ts - t_ref:+.3f}s after the start of step {what!r}"

    expected = f"within {seconds_text(round(hi - lo, 6))} after step {what!r} started" if hi is not None else f"after step {what!r} started"
    return C(desc=f"seen {expected}", label="time", expected=expected, test=test, seen=seen, role="time",
             phrase=lambda f: f"seen at {seen(f)}, expected {expected}")


def custom(desc: str, test: Callable[[Frame], bool], seen: Callable[[Frame], str], expected: str = "",
           fields: Sequence[FieldRef] = (), phrase: Callable[[Frame], str] | None = None) -> C:
    """A constraint built by a composite check (e.g. "acknowledges the SYN")."""
    return C(desc=desc, label=desc, expected=expected or desc, test=test, seen=seen, fields=fields, phrase=phrase)


def mac_or_ip(res: Resolver, f: Frame, src: bool) -> str:
    ip = f.ipsrc if src else f.ipdst
    return res.name_ip(ip) if ip is not None else res.name_mac(f.esrc if src else f.edst)


