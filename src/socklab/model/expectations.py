"""The expectation language: what a lab file's `expect:` list may say, as frozen pydantic models.

Validated once when the lab file loads; the Lab then keeps the values as the models' plain
twins (model/plain.py, `to_plain` below), which `socklab.verify.verify` interprets without
pydantic. Reference with examples: docs/expectations.md at the repository root.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    model_validator,
)

from socklab.model import plain
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
from socklab.model.plain import CHECKS, COUNTED, split_endpoint
from socklab.model.values import (  # noqa: F401
    MAC_RE,
    NAME_RE,
    SLUG_RE,
    Duration,
    Endpoint,
    regex_problem,
)
from socklab.model.values import Model as _Model

__all__ = [
    "ArpMatch", "Count", "Duration", "EtherMatch", "Expectation", "Expectations", "IcmpMatch",
    "Icmpv6Match", "IPv4Match", "IPv6Match", "Only", "OutputCheck", "PacketMatch", "PayloadMatch",
    "RequestReply", "Retransmissions", "StreamMatch", "TcpClose", "TcpHandshake", "TcpMatch", "TextMatch",
    "UdpMatch", "CHECKS", "ALLOW_PRESETS", "split_endpoint", "to_plain",
]

ALLOW_PRESETS = ("arp", "nd", "mld", "igmp")
"""Names usable in only.allow: ARP, IPv6 neighbour discovery (ICMPv6 133-137), MLD, IGMP."""


def _preset(v: Any) -> Any:
    if isinstance(v, str) and v not in ALLOW_PRESETS:
        raise ValueError(f"unknown allow preset {v!r}; presets: {', '.join(ALLOW_PRESETS)} (or a packet matcher)")
    return v


AllowItem = Annotated[PacketMatch | Literal["arp", "nd", "mld", "igmp"], BeforeValidator(_preset)]


class Only(_Model, plain.Only):
    """Nothing but `allow` left `node`: every packet from it must match one of allow.

    allow items are packet matchers or presets: arp, nd (IPv6 neighbour discovery), mld, igmp.
    """

    node: str
    allow: list[AllowItem] = Field(default_factory=list)
    capture: str | list[str] | None = None


class TcpHandshake(_Model, plain.TcpHandshake):
    """SYN client→server, SYN-ACK back, ACK: server is "node:port" (or a node/address, any port)."""

    client: Endpoint | None = None
    server: Endpoint
    capture: str | list[str] | None = None


class TcpClose(_Model, plain.TcpClose):
    """A connection between the two endpoints closed with FIN both ways and no RST."""

    between: tuple[Endpoint, Endpoint]
    capture: str | list[str] | None = None


class RequestReply(_Model, plain.RequestReply):
    """Each request (at least one, or all with all: true) is answered, paired with scapy's answers().

    Without a reply matcher, ICMP error messages (port unreachable...) do not count as a reply.
    """

    request: PacketMatch
    reply: PacketMatch | None = None
    all: bool = False


class StreamMatch(PayloadMatch, plain.StreamMatch):
    """The bytes one side of a TCP connection sent, reassembled by sequence number.

    from/to: the sending and receiving ends (usually a node and "node:port"); the payload keys
    (equals, contains, regex, hex, length) hold for the whole stream of one connection, so how
    the program split its writes into segments never matters. checksums: valid also requires
    every segment of that stream to carry correct checksums.
    """

    from_: Endpoint = Field(alias="from")
    to: Endpoint
    capture: str | list[str] | None = None
    checksums: Literal["valid"] | None = None


class Retransmissions(_Model, plain.Retransmissions):
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


class TextMatch(_Model, plain.TextMatch):
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


class OutputCheck(_Model, plain.OutputCheck):
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


class Count(_Model, plain.Count):
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


def _count_shorthand(v: Any) -> Any:
    return {"exactly": v} if isinstance(v, int) and not isinstance(v, bool) else v




def _id_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class Expectation(_Model, plain.Expectation):
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


def _unique_ids(items: list[Expectation]) -> list[Expectation]:
    seen: set[str] = set()
    for e in items:
        if e.id in seen:
            raise ValueError(f"expectation id {e.id!r} is used twice; ids must be unique")
        seen.add(e.id)
    return items


Expectations = Annotated[list[Expectation], AfterValidator(_unique_ids)]
"""The type of a lab file's `expect:` list: expectations with unique ids."""


def to_plain(value: Any) -> Any:
    """`value` with every model in it replaced by its plain twin (lists and tuples kept as such)."""
    if isinstance(value, BaseModel):
        twin = _twin(type(value))
        return twin(**{name: to_plain(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(to_plain(v) for v in value)
    return value


def _twin(model: type[BaseModel]) -> type[plain.Plain]:
    return next(c for c in model.__mro__ if issubclass(c, plain.Plain) and not issubclass(c, BaseModel))
