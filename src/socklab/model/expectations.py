"""The expectation language: what a lab file's `expect:` list may say, as frozen pydantic models.

Pure data, validated once when the lab file loads (this module imports only pydantic and
the standard library, so loading stays fast). `socklab.verify.verify` interprets it.
Reference with examples: docs/expectations.md at the repository root.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    model_validator,
)

from socklab.model.packetmatch import (  # noqa: F401 - the whole grammar is importable from here
    ArpMatch,
    EtherMatch,
    IcmpMatch,
    Icmpv6Match,
    IPv4Match,
    IPv6Match,
    PacketMatch,
    PayloadMatch,
    TcpMatch,
    UdpMatch,
    _text_shorthand,
)
from socklab.model.values import (  # noqa: F401
    MAC_RE,
    NAME_RE,
    SLUG_RE,
    Duration,
    Endpoint,
    regex_problem,
    split_endpoint,
)
from socklab.model.values import Model as _Model

__all__ = [
    "ArpMatch", "Count", "Duration", "EtherMatch", "Expectation", "Expectations", "IcmpMatch",
    "Icmpv6Match", "IPv4Match", "IPv6Match", "Only", "OutputCheck", "PacketMatch", "PayloadMatch",
    "RequestReply", "Retransmissions", "StreamMatch", "TcpClose", "TcpHandshake", "TcpMatch", "TextMatch",
    "UdpMatch", "CHECKS", "ALLOW_PRESETS",
]

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
        if self.regex is not None and (problem := regex_problem(self.regex)) is not None:
            raise ValueError(f"regex {self.regex!r} is not a valid regular expression: {problem}")
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

    id: Annotated[str, Field(pattern=SLUG_RE, min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1)]
    points: float = Field(1.0, ge=0)
    hint: str | None = None
    needs: Annotated[list[Annotated[str, Field(pattern=SLUG_RE)]], BeforeValidator(_id_list)] = Field(default_factory=list)

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
            if NAME_RE.match(name) and not _looks_like_address(name):
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
        return bool(MAC_RE.match(s.lower()))


def _unique_ids(items: list[Expectation]) -> list[Expectation]:
    seen: set[str] = set()
    for e in items:
        if e.id in seen:
            raise ValueError(f"expectation id {e.id!r} is used twice; ids must be unique")
        seen.add(e.id)
    return items


Expectations = Annotated[list[Expectation], AfterValidator(_unique_ids)]
"""The type of a lab file's `expect:` list: expectations with unique ids."""
