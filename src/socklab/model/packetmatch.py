"""The packet matcher language: what `packet:` (and the steps of `sequence:`, `only.allow`)
may say about one packet, layer by layer. verify/layers.py holds the matching field table.
Each model validates; its plain twin (model/plain.py) holds its behaviour and its values
once loaded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, model_validator

from socklab.model import plain
from socklab.model.values import (
    U8,
    U16,
    U32,
    ArpOp,
    Endpoint,
    EtherType,
    IcmpType,
    Icmpv6Type,
    IPFlags,
    IPProto,
    IPv4Addr,
    IPv6Addr,
    Mac,
    Port,
    TcpFlags,
    regex_problem,
)
from socklab.model.values import Model as _Model

# ---------------------------------------------------------------------------------------------
# Packet matchers.


class EtherMatch(_Model, plain.EtherMatch):
    """Ethernet header. type is the EtherType (after any VLAN tag): 0x88b5, ipv4, arp, ipv6..."""

    src: Mac | None = None
    dst: Mac | None = None
    type: EtherType | None = None


class ArpMatch(_Model, plain.ArpMatch):
    op: ArpOp | None = None
    psrc: IPv4Addr | None = None
    pdst: IPv4Addr | None = None
    hwsrc: Mac | None = None
    hwdst: Mac | None = None


class IPv4Match(_Model, plain.IPv4Match):
    src: IPv4Addr | None = None
    dst: IPv4Addr | None = None
    proto: IPProto | None = None
    ttl: U8 | None = None
    flags: IPFlags | None = None
    id: U16 | None = None
    tos: U8 | None = None


class IPv6Match(_Model, plain.IPv6Match):
    """nh is the upper-layer protocol, after any extension headers."""

    src: IPv6Addr | None = None
    dst: IPv6Addr | None = None
    nh: IPProto | None = None
    hlim: U8 | None = None


class IcmpMatch(_Model, plain.IcmpMatch):
    type: IcmpType | None = None
    code: U8 | None = None
    id: U16 | None = None
    seq: U16 | None = None


class Icmpv6Match(_Model, plain.Icmpv6Match):
    type: Icmpv6Type | None = None
    code: U8 | None = None
    id: U16 | None = None
    seq: U16 | None = None


class TcpMatch(_Model, plain.TcpMatch):
    """flags: exactly these flags ("S", "SA", "FA", "PA"...); flags_include: at least these."""

    sport: Port | None = None
    dport: Port | None = None
    flags: TcpFlags | None = None
    flags_include: TcpFlags | None = None
    seq: U32 | None = None
    ack: U32 | None = None
    window: U16 | None = None


class UdpMatch(_Model, plain.UdpMatch):
    sport: Port | None = None
    dport: Port | None = None
    len: U16 | None = None


def _text_shorthand(v: Any) -> Any:
    return {"contains": v} if isinstance(v, str) else v


class PayloadMatch(_Model, plain.PayloadMatch):
    """The transport payload (or the bytes after the last decoded header). All given keys must hold.

    A bare string is shorthand for `contains`. `hex` is the exact payload in hex ("48 65 6c 6c 6f").
    """

    equals: str | None = None
    contains: str | None = None
    regex: str | None = None
    hex: str | None = None
    length: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> PayloadMatch:
        if all(v is None for v in (self.equals, self.contains, self.regex, self.hex, self.length)):
            raise ValueError(f"{self.what} needs one of: equals, contains, regex, hex, length")
        if self.hex is not None:
            digits = plain.HEX_SEPARATORS.sub("", self.hex)
            if len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", digits):
                raise ValueError(f"payload.hex {self.hex!r} is not an even number of hex digits")
        if self.regex is not None and (problem := regex_problem(self.regex, over_bytes=True)) is not None:
            raise ValueError(f"payload.regex {self.regex!r} is not a valid regular expression: {problem}")
        return self


class PacketMatch(_Model, plain.PacketMatch):
    """One packet: where it was seen, who sent it to whom, and the layers and fields it has.

    from/to: a node (any of its addresses or MACs), "node:iface", "node:port", an IP or MAC
    address, or "ip:port". capture: "node:iface", a node name (all its captures), or a list.
    """

    from_: Endpoint | None = Field(None, alias="from")
    to: Endpoint | None = None
    capture: str | list[str] | None = None
    ether: EtherMatch | None = None
    arp: ArpMatch | None = None
    ipv4: IPv4Match | None = Field(None, validation_alias=AliasChoices("ipv4", "ip"))
    ipv6: IPv6Match | None = None
    icmp: IcmpMatch | None = None
    icmpv6: Icmpv6Match | None = None
    tcp: TcpMatch | None = None
    udp: UdpMatch | None = None
    payload: Annotated[PayloadMatch | None, BeforeValidator(_text_shorthand)] = None
    checksums: Literal["valid"] | None = None
    lengths: Literal["consistent"] | None = None

    @model_validator(mode="after")
    def _layers_agree(self) -> PacketMatch:
        clashes = [
            (("tcp", "udp", "icmp", "icmpv6", "arp"), "a packet has at most one of"),
            (("ipv4", "ipv6", "arp"), "a packet has at most one of"),
            (("ipv6", "icmp"), "ICMP runs over IPv4 (use icmpv6 with ipv6)"),
            (("ipv4", "icmpv6"), "ICMPv6 runs over IPv6 (use icmp with ipv4)"),
        ]
        for names, why in clashes:
            given = [n for n in names if getattr(self, n) is not None]
            if len(given) > 1:
                raise ValueError(f"{why}: {', '.join(names)} (got {' and '.join(given)})")
        return self
