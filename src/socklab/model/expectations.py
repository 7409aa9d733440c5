"""The expectation language: what a lab file's `expect:` list may say, as frozen pydantic models.

Pure data, validated once when the lab file loads (this module imports only pydantic and
the standard library, so loading stays fast). `socklab.verify.verify` interprets it.
Reference with examples: docs/expectations.md at the repository root.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

__all__ = [
    "ArpMatch", "Count", "Duration", "EtherMatch", "Expectation", "Expectations", "IcmpMatch",
    "Icmpv6Match", "IPv4Match", "IPv6Match", "Only", "OutputCheck", "PacketMatch", "PayloadMatch",
    "RequestReply", "Retransmissions", "StreamMatch", "TcpClose", "TcpHandshake", "TcpMatch", "TextMatch",
    "UdpMatch", "CHECKS", "ALLOW_PRESETS",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# ---------------------------------------------------------------------------------------------
# Scalar types: each accepts what reads naturally in YAML and normalises it.


def _int(names: dict[str, int] | None = None, lo: int = 0, hi: int = 0xFFFFFFFF, what: str = "value"):
    """An int that may be written 102, "0x66" or (when names is given) a name like "udp"."""

    def parse(v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(f"{what} must be a number, not {v!r}")
        if isinstance(v, str):
            s = v.strip().lower()
            if names and s in names:
                return names[s]
            try:
                v = int(s, 0)
            except ValueError:
                known = f"; known names: {', '.join(sorted(names))}" if names else ""
                raise ValueError(f"{what} {v!r} is not a number{known}") from None
        if isinstance(v, int) and not lo <= v <= hi:
            raise ValueError(f"{what} {v} out of range {lo}..{hi} (0x{hi:x})")
        return v

    return BeforeValidator(parse)


IP_PROTOCOLS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50,
                "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132}
ETHER_TYPES = {"ipv4": 0x0800, "ip": 0x0800, "arp": 0x0806, "ipv6": 0x86DD, "vlan": 0x8100}
ICMP_TYPES = {"echo-reply": 0, "dest-unreach": 3, "destination-unreachable": 3, "redirect": 5,
              "echo-request": 8, "time-exceeded": 11, "parameter-problem": 12}
ICMPV6_TYPES = {"dest-unreach": 1, "destination-unreachable": 1, "packet-too-big": 2,
                "time-exceeded": 3, "parameter-problem": 4, "echo-request": 128, "echo-reply": 129,
                "mld-query": 130, "mld-report": 131, "mld-done": 132, "router-solicitation": 133,
                "router-advertisement": 134, "neighbor-solicitation": 135,
                "neighbor-advertisement": 136, "redirect": 137, "mldv2-report": 143}
ARP_OPS = {"request": 1, "who-has": 1, "reply": 2, "is-at": 2}

Port = Annotated[int, _int(lo=0, hi=0xFFFF, what="port")]
U8 = Annotated[int, _int(lo=0, hi=0xFF)]
U16 = Annotated[int, _int(lo=0, hi=0xFFFF)]
U32 = Annotated[int, _int()]
IPProto = Annotated[int, _int(IP_PROTOCOLS, hi=0xFF, what="IP protocol")]
EtherType = Annotated[int, _int(ETHER_TYPES, hi=0xFFFF, what="EtherType")]
IcmpType = Annotated[int, _int(ICMP_TYPES, hi=0xFF, what="ICMP type")]
Icmpv6Type = Annotated[int, _int(ICMPV6_TYPES, hi=0xFF, what="ICMPv6 type")]
ArpOp = Annotated[int, _int(ARP_OPS, hi=0xFFFF, what="ARP operation")]

_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


def _mac(v: Any) -> str:
    s = str(v).strip().lower()
    if not _MAC_RE.match(s):
        raise ValueError(f"{v!r} is not a MAC address (like 02:00:00:00:00:01)")
    return s.replace("-", ":")


def _ip(version: int | None):
    def parse(v: Any) -> str:
        try:
            a = ipaddress.ip_address(str(v).strip())
        except ValueError:
            raise ValueError(f"{v!r} is not an IP address") from None
        if version and a.version != version:
            raise ValueError(f"{v!r} is not an IPv{version} address")
        return str(a)

    return AfterValidator(parse)


Mac = Annotated[str, AfterValidator(_mac)]
IPv4Addr = Annotated[str, _ip(4)]
IPv6Addr = Annotated[str, _ip(6)]

_TCP_FLAG_LETTERS = "FSRPAUECN"


_TCP_FLAG_WORDS = {"FIN": "F", "SYN": "S", "RST": "R", "PSH": "P", "ACK": "A", "URG": "U",
                   "ECE": "E", "CWR": "C", "NS": "N"}


def _tcp_flags(v: Any) -> str:
    """"SA", "S", "FA" (scapy letters) or words "SYN+ACK", "SYN-ACK", "FIN ACK"; "" means none."""
    s = str(v).strip().upper()
    words = [w for w in re.split(r"[+,|/ -]+", s) if w]
    if words and all(w in _TCP_FLAG_WORDS for w in words):
        s = "".join(_TCP_FLAG_WORDS[w] for w in words)
    elif len(words) > 1:
        raise ValueError(f"TCP flags {v!r}: use letters like SA or words like SYN+ACK")
    bad = sorted(set(s) - set(_TCP_FLAG_LETTERS))
    if bad:
        raise ValueError(
            f"unknown TCP flag letter(s) {''.join(bad)!r} in {v!r}; "
            "letters: F=FIN S=SYN R=RST P=PSH A=ACK U=URG E=ECE C=CWR N=NS (or words like SYN+ACK)"
        )
    return "".join(c for c in _TCP_FLAG_LETTERS if c in s)  # canonical order, duplicates gone


TcpFlags = Annotated[str, AfterValidator(_tcp_flags)]


def _ip_flags(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("IPv4 flags must be like DF, MF, DF+MF, '' or a number 0..7")
    if isinstance(v, int):
        if not 0 <= v <= 7:
            raise ValueError(f"IPv4 flags {v} out of range 0..7")
        return v
    bits = {"MF": 1, "DF": 2, "EVIL": 4, "RESERVED": 4}
    total = 0
    for part in re.split(r"[+,| ]+", str(v).strip().upper()):
        if not part:
            continue
        if part not in bits:
            raise ValueError(f"unknown IPv4 flag {part!r}; use DF, MF, DF+MF or '' (none)")
        total |= bits[part]
    return total


IPFlags = Annotated[int, BeforeValidator(_ip_flags)]

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min)?\s*$")


def _duration(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("a duration is like 2s, 500ms, 1.5s or 1m")
    if isinstance(v, int | float):
        seconds = float(v)
    else:
        m = _DURATION_RE.match(str(v))
        if not m:
            raise ValueError(f"{v!r} is not a duration (like 2s, 500ms, 1.5s, 1m)")
        seconds = float(m.group(1)) * {"ms": 0.001, "m": 60, "min": 60}.get(m.group(2) or "s", 1.0)
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration)]
"""Seconds; written 2s, 500ms, 1.5s, 1m or a plain number of seconds."""

_SLUG_RE = r"^[a-z0-9][a-z0-9_-]*$"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _endpoint(v: Any) -> str:
    """Syntax check only; names are resolved against the lab when verifying."""
    s = str(v).strip()
    host, port = split_endpoint(s)
    if port is not None and not 0 <= port <= 0xFFFF:
        raise ValueError(f"port {port} out of range in {v!r}")
    if not host:
        raise ValueError("an endpoint is a node, node:iface, node:port, an IP or MAC address, or ip:port")
    return s


def split_endpoint(s: str) -> tuple[str, int | None]:
    """"server:12345" -> ("server", 12345); "[fd00::1]:80" -> ("fd00::1", 80); others keep port None.

    "server:eth0" stays whole (an interface, resolved later); bare IPv6 and MACs stay whole.
    """
    if s.startswith("[") and "]" in s:
        host, _, rest = s[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        return host, None
    if s.count(":") == 1:
        host, _, port = s.partition(":")
        if port.isdigit():
            return host, int(port)
    return s, None


Endpoint = Annotated[str, AfterValidator(_endpoint)]

# ---------------------------------------------------------------------------------------------
# Packet matchers.


class EtherMatch(_Model):
    """Ethernet header. type is the EtherType (after any VLAN tag): 0x88b5, ipv4, arp, ipv6..."""

    src: Mac | None = None
    dst: Mac | None = None
    type: EtherType | None = None


class ArpMatch(_Model):
    op: ArpOp | None = None
    psrc: IPv4Addr | None = None
    pdst: IPv4Addr | None = None
    hwsrc: Mac | None = None
    hwdst: Mac | None = None


class IPv4Match(_Model):
    src: IPv4Addr | None = None
    dst: IPv4Addr | None = None
    proto: IPProto | None = None
    ttl: U8 | None = None
    flags: IPFlags | None = None
    id: U16 | None = None
    tos: U8 | None = None


class IPv6Match(_Model):
    """nh is the upper-layer protocol, after any extension headers."""

    src: IPv6Addr | None = None
    dst: IPv6Addr | None = None
    nh: IPProto | None = None
    hlim: U8 | None = None


class IcmpMatch(_Model):
    type: IcmpType | None = None
    code: U8 | None = None
    id: U16 | None = None
    seq: U16 | None = None


class Icmpv6Match(_Model):
    type: Icmpv6Type | None = None
    code: U8 | None = None
    id: U16 | None = None
    seq: U16 | None = None


class TcpMatch(_Model):
    """flags: exactly these flags ("S", "SA", "FA", "PA"...); flags_include: at least these."""

    sport: Port | None = None
    dport: Port | None = None
    flags: TcpFlags | None = None
    flags_include: TcpFlags | None = None
    seq: U32 | None = None
    ack: U32 | None = None
    window: U16 | None = None


class UdpMatch(_Model):
    sport: Port | None = None
    dport: Port | None = None
    len: U16 | None = None


def _text_shorthand(v: Any) -> Any:
    return {"contains": v} if isinstance(v, str) else v


class PayloadMatch(_Model):
    """The transport payload (or the bytes after the last decoded header). All given keys must hold.

    A bare string is shorthand for `contains`. `hex` is the exact payload in hex ("48 65 6c 6c 6f").
    """

    what: ClassVar[str] = "payload"

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
            digits = re.sub(r"[\s:.-]", "", self.hex)
            if len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", digits):
                raise ValueError(f"payload.hex {self.hex!r} is not an even number of hex digits")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as e:
                raise ValueError(f"payload.regex {self.regex!r} is not a valid regular expression: {e}") from None
        return self

    def hex_bytes(self) -> bytes | None:
        return None if self.hex is None else bytes.fromhex(re.sub(r"[\s:.-]", "", self.hex))


class PacketMatch(_Model):
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

    def captures(self) -> list[str]:
        if self.capture is None:
            return []
        return [self.capture] if isinstance(self.capture, str) else list(self.capture)


ALLOW_PRESETS = ("arp", "nd", "mld", "igmp")
"""Names usable in only.allow: ARP, IPv6 neighbour discovery (ICMPv6 133-137), MLD, IGMP."""


def _preset(v: Any) -> Any:
    if isinstance(v, str) and v not in ALLOW_PRESETS:
        raise ValueError(f"unknown allow preset {v!r}; presets: {', '.join(ALLOW_PRESETS)} (or a packet matcher)")
    return v


AllowItem = Annotated[PacketMatch | Literal["arp", "nd", "mld", "igmp"], BeforeValidator(_preset)]


class Only(_Model):
    """Nothing but `allow` left `node`: every packet from it must match one of allow.

    allow items are packet matchers or presets: arp, nd (IPv6 neighbour discovery), mld, igmp.
    """

    node: str
    allow: list[AllowItem] = Field(default_factory=list)
    capture: str | list[str] | None = None


class TcpHandshake(_Model):
    """SYN client→server, SYN-ACK back, ACK: server is "node:port" (or a node/address, any port)."""

    client: Endpoint | None = None
    server: Endpoint
    capture: str | list[str] | None = None


class TcpClose(_Model):
    """A connection between the two endpoints closed with FIN both ways and no RST."""

    between: tuple[Endpoint, Endpoint]
    capture: str | list[str] | None = None


class RequestReply(_Model):
    """Each request (at least one, or all with all: true) is answered, paired with scapy's answers().

    Without a reply matcher, ICMP error messages (port unreachable...) do not count as a reply.
    """

    request: PacketMatch
    reply: PacketMatch | None = None
    all: bool = False


class StreamMatch(PayloadMatch):
    """The bytes one side of a TCP connection sent, reassembled by sequence number.

    from/to: the sending and receiving ends (usually a node and "node:port"); the payload keys
    (equals, contains, regex, hex, length) hold for the whole stream of one connection, so how
    the program split its writes into segments never matters. checksums: valid also requires
    every segment of that stream to carry correct checksums.
    """

    what: ClassVar[str] = "stream"

    from_: Endpoint = Field(alias="from")
    to: Endpoint
    capture: str | list[str] | None = None
    checksums: Literal["valid"] | None = None


class Retransmissions(_Model):
    """Segments (TCP) or datagrams (UDP) from `from` to `to` that carry bytes sent before.

    TCP: a segment whose sequence range overlaps bytes already seen on that connection and
    direction, or fills a hole behind them (the original was lost before the capture point).
    UDP: a datagram whose payload repeats an earlier one's (an application-level resend).
    Counted with the expectation's count / none (default: at least one).
    """

    from_: Endpoint = Field(alias="from")
    to: Endpoint
    proto: Literal["tcp", "udp"] = "tcp"
    capture: str | list[str] | None = None


class TextMatch(_Model):
    """Program output. A bare string is shorthand for contains. equals ignores trailing whitespace."""

    equals: str | None = None
    contains: str | None = None
    not_contains: str | None = None
    regex: str | None = None
    empty: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> TextMatch:
        if all(v is None for v in (self.equals, self.contains, self.not_contains, self.regex, self.empty)):
            raise ValueError("needs one of: equals, contains, not_contains, regex, empty")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as e:
                raise ValueError(f"regex {self.regex!r} is not a valid regular expression: {e}") from None
        return self


OutText = Annotated[TextMatch | None, BeforeValidator(_text_shorthand)]


class OutputCheck(_Model):
    """What a scenario step did: pick it by step id, or by node (any of the node's steps may satisfy)."""

    step: str | None = None
    node: str | None = None
    exit_code: int | None = None
    timed_out: bool | None = None
    stdout: OutText = None
    stderr: OutText = None

    @model_validator(mode="after")
    def _check(self) -> OutputCheck:
        if (self.step is None) == (self.node is None):
            raise ValueError("output needs exactly one of step or node")
        if all(v is None for v in (self.exit_code, self.timed_out, self.stdout, self.stderr)):
            raise ValueError("output needs something to check: exit_code, timed_out, stdout or stderr")
        return self


class Count(_Model):
    exactly: int | None = Field(None, ge=0)
    at_least: int | None = Field(None, ge=0)
    at_most: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Count:
        if self.exactly is not None and (self.at_least is not None or self.at_most is not None):
            raise ValueError("count: exactly cannot be combined with at_least/at_most")
        if self.exactly is None and self.at_least is None and self.at_most is None:
            raise ValueError("count needs exactly, at_least or at_most")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError(f"count: at_least {self.at_least} > at_most {self.at_most}")
        return self

    def bounds(self) -> tuple[int, int | None]:
        if self.exactly is not None:
            return self.exactly, self.exactly
        return self.at_least or 0, self.at_most

    def describe(self) -> str:
        lo, hi = self.bounds()
        if lo == hi:
            return f"exactly {lo}"
        if hi is None:
            return f"at least {lo}"
        return f"at most {hi}" if lo == 0 else f"between {lo} and {hi}"


def _count_shorthand(v: Any) -> Any:
    return {"exactly": v} if isinstance(v, int) and not isinstance(v, bool) else v


CHECKS = ("packet", "sequence", "stream", "tcp_handshake", "tcp_close", "retransmissions", "request_reply", "only",
          "output")
COUNTED = ("packet", "retransmissions")  # the checks count / none apply to


def _id_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class Expectation(_Model):
    """One item of a lab file's `expect:` list: an id, a title, points and exactly one check.

    Checks: packet, sequence, stream, tcp_handshake, tcp_close, retransmissions, request_reply,
    only, output. count/none quantify packet and retransmissions; after/within restrict capture
    checks to a time window that starts when step `after` started; hint is appended to the
    message when the check fails; needs names expectations that must pass first (else this one
    is skipped, worth 0).
    """

    id: Annotated[str, Field(pattern=_SLUG_RE, min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1)]
    points: float = Field(1.0, ge=0)
    hint: str | None = None
    needs: Annotated[list[Annotated[str, Field(pattern=_SLUG_RE)]], BeforeValidator(_id_list)] = Field(default_factory=list)

    packet: PacketMatch | None = None
    sequence: Annotated[list[PacketMatch], Field(min_length=1)] | None = None
    stream: StreamMatch | None = None
    tcp_handshake: TcpHandshake | None = None
    tcp_close: TcpClose | None = None
    retransmissions: Retransmissions | None = None
    request_reply: RequestReply | None = None
    only: Only | None = None
    output: OutputCheck | None = None

    count: Annotated[Count | None, BeforeValidator(_count_shorthand)] = None
    none: bool = False
    after: str | None = None
    within: Duration | None = None

    @model_validator(mode="after")
    def _one_check(self) -> Expectation:
        given = [c for c in CHECKS if getattr(self, c) is not None]
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            raise ValueError(f"an expectation needs exactly one check among {', '.join(CHECKS)}; {found}")
        kind = given[0]
        if (self.count is not None or self.none) and kind not in COUNTED:
            raise ValueError(f"count and none apply to packet and retransmissions checks only, not {kind}")
        if self.count is not None and self.none:
            raise ValueError("use either count or none: true, not both")
        if self.within is not None and self.after is None:
            raise ValueError("within needs after: <step id> (the window starts when that step starts)")
        if self.after is not None and kind == "output":
            raise ValueError("after/within apply to capture checks, not output")
        return self

    @property
    def kind(self) -> str:
        """Which check this expectation holds (one of CHECKS)."""
        return next(c for c in CHECKS if getattr(self, c) is not None)

    def references(self) -> dict[str, set[str]]:
        """Names this expectation refers to, for cross-checking against the lab when loading.

        Returns {"nodes": ..., "steps": ..., "captures": ...}; endpoint names that are really
        addresses are left out. The verifier reports unknown names as errors too.
        """
        nodes: set[str] = set()
        caps: set[str] = set()
        steps: set[str] = {self.after} if self.after else set()

        def endpoint(e: str | None) -> None:
            if e is None:
                return
            host, _ = split_endpoint(e)
            name = host.split(":")[0] if host.count(":") == 1 else host
            if _NAME_RE.match(name) and not _looks_like_address(name):
                nodes.add(name)

        def matcher(m: PacketMatch) -> None:
            endpoint(m.from_)
            endpoint(m.to)
            caps.update(m.captures())

        for m in self.sequence or []:
            matcher(m)
        if self.packet:
            matcher(self.packet)
        if self.tcp_handshake:
            endpoint(self.tcp_handshake.client)
            endpoint(self.tcp_handshake.server)
        if self.tcp_close:
            for e in self.tcp_close.between:
                endpoint(e)
        for c in (self.stream, self.retransmissions):
            if c is not None:
                endpoint(c.from_)
                endpoint(c.to)
        if self.request_reply:
            matcher(self.request_reply.request)
            if self.request_reply.reply:
                matcher(self.request_reply.reply)
        if self.only:
            nodes.add(self.only.node)
            for a in self.only.allow:
                if isinstance(a, PacketMatch):
                    matcher(a)
        if self.output:
            if self.output.node:
                nodes.add(self.output.node)
            if self.output.step:
                steps.add(self.output.step)
        for c in (self.tcp_handshake, self.tcp_close, self.only, self.stream, self.retransmissions):
            if c is not None and c.capture is not None:
                caps.update([c.capture] if isinstance(c.capture, str) else c.capture)
        return {"nodes": nodes, "steps": steps, "captures": caps}


def _looks_like_address(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return bool(_MAC_RE.match(s.lower()))


def _unique_ids(items: list[Expectation]) -> list[Expectation]:
    seen: set[str] = set()
    for e in items:
        if e.id in seen:
            raise ValueError(f"expectation id {e.id!r} is used twice; ids must be unique")
        seen.add(e.id)
    return items


Expectations = Annotated[list[Expectation], AfterValidator(_unique_ids)]
"""The type of a lab file's `expect:` list: expectations with unique ids."""
