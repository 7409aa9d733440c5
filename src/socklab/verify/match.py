"""The one packet matcher: a PacketMatch compiled into constraints over pre-decoded frames.

Header fields come from the per-layer field table (layers.py); endpoints, payload, checksums
and lengths are built here. A frame matches when all constraints hold; when none matches,
the frame passing the most constraints is the "nearest" one and its failing constraints
explain the miss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from socklab import regexes
from socklab.model.plain import PacketMatch
from socklab.verify.constraint import (
    C,
    Dyn,
    FieldRef,
    Span,
    custom,
    fields_of,
    seconds_text,
    stack,
    window_constraint,
)
from socklab.verify.endpoints import Ends, Resolver, split_endpoint
from socklab.verify.frames import ETH_ARP, Frame, checksum_fields, length_problems, preview
from socklab.verify.layers import ETH, ICMP6, LAYERS, SLL, mac_offset

__all__ = [
    "C", "FieldRef", "Matcher", "compile_packet", "custom", "fields_of", "icmpv6_types", "mac_or_ip",
    "seconds_text", "window_constraint",
]


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
    for layer in LAYERS:
        spec = getattr(m, layer.key)  # the PacketMatch attribute the table names
        if spec is not None:
            cs += layer.constraints(spec)
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
        off = mac_offset(f, src)
        if off is not None:
            out.append((off, off + 6, None))
        return out

    fields = [(("IP", "IPv6"), "src" if src else "dst"),
              (("ARP",), "psrc" if src else "pdst"), (ETH + SLL, "src" if src else "dst")]
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
            fields=[(("TCP", "UDP"), attr)], span=_port_span(src, port),
        ))
    return cs


def _port_span(src: bool, port: int) -> Callable[[Frame], list[Span]]:
    want, o = port.to_bytes(2, "big"), 0 if src else 2
    return lambda f: [(f.l4 + o, f.l4 + o + 2, want)]


def icmpv6_types(types: Sequence[int], name: str) -> C:
    """ICMPv6 of one of these types (for the nd/mld presets)."""
    ts = frozenset(types)
    return C(desc=name, label=name, expected=f"ICMPv6 type in {sorted(ts)}",
             test=lambda f: f.l4p == 58 and f.data[f.l4] in ts,
             seen=lambda f: f"ICMPv6 type {f.data[f.l4]}" if f.l4p == 58 else stack(f))


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
        rx = regexes.compile_bytes(p.regex)
        cs.append(C(desc=f"payload matching /{p.regex}/", label="payload", expected=f"to match /{p.regex}/",
                    test=lambda f: regexes.found(rx, f.data[f.pl : f.pe]), seen=seen, fields=fields, span=span,
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
                "ICMP checksum": ("ICMP",), "ICMPv6 checksum": ICMP6}

    return C(desc="valid checksums", label="checksums", expected="valid", test=lambda f: not bad(f), seen=seen,
             fields=Dyn(lambda f: [(layer_of[lab], "chksum" if lab.startswith("IPv4") else "cksum") for lab, *_ in bad(f)]),
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
             seen=lambda f: phrase(f) or "consistent", fields=Dyn(fields),
             span=lambda f: [(off, off + 2, None) for _, off, _ in length_problems(f)], slow=True, phrase=phrase)


def mac_or_ip(res: Resolver, f: Frame, src: bool) -> str:
    ip = f.ipsrc if src else f.ipdst
    return res.name_ip(ip) if ip is not None else res.name_mac(f.esrc if src else f.edst)


