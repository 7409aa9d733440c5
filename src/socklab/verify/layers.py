"""The header fields a lab file may constrain, as one table per layer (in the spirit of scapy's
`fields_desc`): where each field sits, how it reads and prints, and its scapy name.

From a row the matcher derives everything a field needs: the constraint ("IPv4 TTL 64"),
the value seen, the bytes to highlight, and the scapy field the diff names. Adding a field
to the expectation language is adding a row here (and the attribute to its model).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from socklab.verify.constraint import C, FieldRef, Span, layer_constraint
from socklab.verify.endpoints import pack_ip, pack_mac
from socklab.verify.frames import TCP_FLAGS, Frame, flags_text, ip_text, mac_text
from socklab.verify.pcap import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2

_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from

ETH = ("Ether",)
SLL = ("CookedLinux", "CookedLinuxV2")
ICMP6 = ("ICMPv6",)  # prefix: every scapy ICMPv6 class name starts with it
BY_ETYPE: list[FieldRef] = [(ETH, "type"), (SLL, "proto")]  # the field that decides the layer
BY_PROTO: list[FieldRef] = [(("IP",), "proto"), (("IPv6",), "nh")]

Base = Literal["l3", "l4"]


@dataclass(frozen=True)
class Field:
    """One constrainable header field.

    name: the match model's attribute (`tcp: {window: ...}`), also scapy's field name unless
    `scapy` says otherwise. at/size: where the field's bytes sit (from the network or transport
    header); `where` instead when the place depends on the frame. get: a decoded Frame value to
    compare instead of reading those bytes. pack: the lab file's value as the frame holds it.
    mark: what the diff highlights: "value" (the bytes, with the expected ones), "place" (the
    bytes only) or "" (nothing). build: a constraint other than equality (TCP flags).
    """

    name: str
    label: str
    at: tuple[Base, int] | None = None
    size: int = 1
    get: Callable[[Frame], object] | None = None
    where: Callable[[Frame], int | None] | None = None
    show: Callable[[Any], str] = str
    pack: Callable[[Any], Any] | None = None
    mark: Literal["value", "place", ""] = "value"
    scapy: Sequence[FieldRef] | None = None
    build: Callable[[Layer, Field, Any], C] | None = None

    def reader(self) -> Callable[[Frame], object]:
        if self.get is not None:
            return self.get
        assert self.at is not None, self.name
        base, o = self.at
        n = self.size
        if base == "l3":
            if n == 1:
                return lambda f: f.data[f.l3 + o]
            if n == 2:
                return lambda f: _u16(f.data, f.l3 + o)[0]
            if n == 4 and self.pack is None:
                return lambda f: _u32(f.data, f.l3 + o)[0]
            return lambda f: f.data[f.l3 + o : f.l3 + o + n]
        if n == 1:
            return lambda f: f.data[f.l4 + o]
        if n == 2:
            return lambda f: _u16(f.data, f.l4 + o)[0]
        if n == 4 and self.pack is None:
            return lambda f: _u32(f.data, f.l4 + o)[0]
        return lambda f: f.data[f.l4 + o : f.l4 + o + n]

    def offset(self) -> Callable[[Frame], int | None] | None:
        if self.where is not None:
            return self.where
        if self.at is None:
            return None
        base, o = self.at
        return (lambda f: f.l3 + o) if base == "l3" else (lambda f: f.l4 + o)

    def spans(self, want: object) -> Callable[[Frame], list[Span]] | None:
        offset = self.offset()
        if not self.mark or offset is None:
            return None
        size = self.size
        value = (want if isinstance(want, bytes) else int(want).to_bytes(size, "big")) if self.mark == "value" else None  # type: ignore[call-overload]

        def spans(f: Frame) -> list[Span]:
            at = offset(f)
            return [] if at is None else [(at, at + size, value)]

        return spans

    def refs(self, layer: Layer) -> Sequence[FieldRef]:
        return self.scapy if self.scapy is not None else [(layer.scapy, self.name)]


@dataclass(frozen=True)
class Layer:
    """A layer of the expectation language: `key` is its PacketMatch attribute (tcp, ipv4...)."""

    name: str
    key: str
    present: Callable[[Frame], bool]
    scapy: tuple[str, ...]
    decided_by: Sequence[FieldRef]
    fields: tuple[Field, ...]
    guarded: bool = True  # a field constraint also requires the layer (Ethernet's need not)

    def constraints(self, spec: Any) -> list[C]:
        """The layer itself, then one constraint per field the spec sets, in table order."""
        cs = [layer_constraint(self.name, self.present, self.decided_by)]
        for fd in self.fields:
            want = getattr(spec, fd.name)  # the model attribute the row names
            if want is not None:
                cs.append((fd.build or equals)(self, fd, want))
        return cs


def equals(layer: Layer, fd: Field, want: Any) -> C:
    """`field == want` where the layer is present; "absent" otherwise."""
    expected = fd.pack(want) if fd.pack is not None else want
    get, show, present = fd.reader(), fd.show, layer.present
    if layer.guarded:
        def test(f: Frame) -> bool:
            return present(f) and get(f) == expected

        def seen(f: Frame) -> str:
            return show(get(f)) if present(f) else "absent"
    else:
        def test(f: Frame) -> bool:
            return get(f) == expected

        def seen(f: Frame) -> str:
            return show(get(f))
    return C(desc=f"{fd.label} {show(expected)}", label=fd.label, expected=show(expected), test=test, seen=seen,
             fields=fd.refs(layer), span=fd.spans(expected), layer=layer.name)


def _flags_mask(s: str) -> int:
    return sum(1 << TCP_FLAGS.index(c) for c in s)


def _tcp_seen(f: Frame) -> str:
    return flags_text(f.tflags) if f.l4p == 6 else "absent"


def tcp_flags_exact(layer: Layer, fd: Field, want: str) -> C:
    mask = _flags_mask(want)
    return C(desc=f"TCP flags {want or 'none'}", label="TCP flags", expected=want or "none",
             test=lambda f: f.tflags == mask, seen=_tcp_seen, fields=fd.refs(layer), span=fd.spans(None),
             layer=layer.name)


def tcp_flags_include(layer: Layer, fd: Field, want: str) -> C:
    inc = _flags_mask(want)
    return C(desc=f"TCP flags including {want}", label="TCP flags", expected=f"at least {want}",
             test=lambda f: f.l4p == 6 and f.tflags & inc == inc, seen=_tcp_seen, fields=fd.refs(layer),
             span=fd.spans(None), layer=layer.name)


def mac_offset(f: Frame, src: bool) -> int | None:
    """Where the source/destination MAC sits in the link header (cooked captures have no destination)."""
    if f.lt == LINKTYPE_ETHERNET:
        return 6 if src else 0
    if src and f.esrc is not None:
        return 12 if f.lt == LINKTYPE_LINUX_SLL2 else 6
    return None


def _etype_offset(f: Frame) -> int:
    return 0 if f.lt == LINKTYPE_LINUX_SLL2 else f.l3 - 2


def hexn(n: int) -> Callable[[object], str]:
    return lambda v: "-" if v is None else f"0x{v:0{n}x}"


def _ipflags_text(v: object) -> str:
    if v is None:
        return "-"
    names = [n for bit, n in ((4, "evil"), (2, "DF"), (1, "MF")) if v & bit]  # type: ignore[operator]
    return "+".join(names) or "none"


_ARP_OPS = {1: "who-has (1)", 2: "is-at (2)"}


def _icmp_fields(name: str) -> tuple[Field, ...]:
    return (
        Field("type", f"{name} type", at=("l4", 0)),
        Field("code", f"{name} code", at=("l4", 1)),
        Field("id", f"{name} id", at=("l4", 4), size=2),
        Field("seq", f"{name} seq", at=("l4", 6), size=2),
    )


def _port_fields(name: str) -> tuple[Field, ...]:
    return (
        Field("sport", f"{name} source port", at=("l4", 0), size=2, get=lambda f: f.sport),
        Field("dport", f"{name} destination port", at=("l4", 2), size=2, get=lambda f: f.dport),
    )


ETHERNET = Layer("Ethernet", "ether", lambda f: f.etype is not None, ETH, [], guarded=False, fields=(
    Field("src", "Ethernet source", size=6, get=lambda f: f.esrc, where=lambda f: mac_offset(f, True),
          show=mac_text, pack=pack_mac, scapy=[(ETH + SLL, "src")]),
    Field("dst", "Ethernet destination", size=6, get=lambda f: f.edst, where=lambda f: mac_offset(f, False),
          show=mac_text, pack=pack_mac, scapy=[(ETH + SLL, "dst")]),
    Field("type", "EtherType", size=2, get=lambda f: f.etype, where=_etype_offset, show=hexn(4), scapy=BY_ETYPE),
))

ARP = Layer("ARP", "arp", Frame.is_arp, ("ARP",), BY_ETYPE, fields=(
    Field("op", "ARP operation", at=("l3", 6), size=2, show=lambda v: _ARP_OPS.get(v, str(v))),
    Field("psrc", "ARP psrc", get=lambda f: f.ipsrc, show=ip_text, pack=pack_ip, mark=""),
    Field("pdst", "ARP pdst", get=lambda f: f.ipdst, show=ip_text, pack=pack_ip, mark=""),
    Field("hwsrc", "ARP hwsrc", at=("l3", 8), size=6, show=mac_text, pack=pack_mac, mark=""),
    Field("hwdst", "ARP hwdst", at=("l3", 18), size=6, show=mac_text, pack=pack_mac, mark=""),
))

IPV4 = Layer("IPv4", "ipv4", lambda f: f.ipv == 4, ("IP",), BY_ETYPE, fields=(
    Field("src", "IPv4 source", at=("l3", 12), size=4, show=ip_text, pack=pack_ip),
    Field("dst", "IPv4 destination", at=("l3", 16), size=4, show=ip_text, pack=pack_ip),
    Field("proto", "IP protocol", at=("l3", 9), get=lambda f: f.proto),
    Field("ttl", "IPv4 TTL", at=("l3", 8)),
    Field("flags", "IPv4 flags", at=("l3", 6), get=lambda f: f.data[f.l3 + 6] >> 5, show=_ipflags_text, mark="place"),
    Field("id", "IPv4 id", at=("l3", 4), size=2),
    Field("tos", "IPv4 TOS", at=("l3", 1), show=hexn(2)),
))

IPV6 = Layer("IPv6", "ipv6", lambda f: f.ipv == 6, ("IPv6",), BY_ETYPE, fields=(
    Field("src", "IPv6 source", at=("l3", 8), size=16, show=ip_text, pack=pack_ip),
    Field("dst", "IPv6 destination", at=("l3", 24), size=16, show=ip_text, pack=pack_ip),
    Field("nh", "IPv6 next header", get=lambda f: f.proto, mark=""),
    Field("hlim", "IPv6 hop limit", at=("l3", 7)),
))

ICMP = Layer("ICMP", "icmp", lambda f: f.l4p == 1, ("ICMP",), BY_PROTO, fields=_icmp_fields("ICMP"))
ICMPV6 = Layer("ICMPv6", "icmpv6", lambda f: f.l4p == 58, ICMP6, BY_PROTO, fields=_icmp_fields("ICMPv6"))

TCP = Layer("TCP", "tcp", lambda f: f.l4p == 6, ("TCP",), BY_PROTO, fields=(
    *_port_fields("TCP"),
    Field("flags", "TCP flags", at=("l4", 13), mark="place", build=tcp_flags_exact),
    Field("flags_include", "TCP flags", at=("l4", 13), mark="place", scapy=[(("TCP",), "flags")],
          build=tcp_flags_include),
    Field("seq", "TCP seq", at=("l4", 4), size=4),
    Field("ack", "TCP ack", at=("l4", 8), size=4),
    Field("window", "TCP window", at=("l4", 14), size=2),
))

UDP = Layer("UDP", "udp", lambda f: f.l4p == 17, ("UDP",), BY_PROTO, fields=(
    *_port_fields("UDP"),
    Field("len", "UDP length", at=("l4", 4), size=2),
))

LAYERS: tuple[Layer, ...] = (ETHERNET, ARP, IPV4, IPV6, ICMP, ICMPV6, TCP, UDP)
"""In the order their constraints are listed (and explained)."""
