"""The expectations as the verifier reads them: plain objects, each the twin of a pydantic model.

Why twins: pydantic and the grammar's models cost a run about 140 ms of imports (measured on
the slowest VM, more than the steps of tcp-hello take), all to read values that were
validated when the lab file loaded. So the loader validates with the pydantic models of
model/expectations.py, and the Lab keeps their values as these classes (model/expectations.py
`to_plain`), which need nothing but the standard library; a kept Lab unpickles them as is.

Each pydantic model inherits its twin (`class Count(Model, plain.Count)`), so the behaviour
written here (bounds, captures, kind...) is the same code on both sides, and an isinstance
test against a class of this module holds for either. Each twin's `_defaults` are its
fields; tests/unit/test_plain.py checks them against the pydantic models' fields.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar

HEX_SEPARATORS = re.compile(r"[\s:.-]")  # what payload.hex may have between its digits


class Plain:
    """Validated values, read-only. Built by model/expectations.py `to_plain`, or directly by the
    verifier for a matcher of its own (then every value must already be in normal form).

    `_defaults` names the fields and their defaults (not class attributes: pydantic would
    take those for attributes its fields shadow)."""

    _defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **values: Any) -> None:
        unknown = [k for k in values if k not in self._defaults]
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(unknown)}")
        self.__dict__.update(self._defaults)
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if v != self._defaults.get(k))
        return f"{type(self).__name__}({given})"


def _fields(names: str, **others: Any) -> dict[str, Any]:
    """Fields that default to None (a required one too: the loader always gives it), and others."""
    return {**dict.fromkeys(names.split()), **others}


# ---------------------------------------------------------------------------------------------
# Packet matchers (model/packetmatch.py)


class EtherMatch(Plain):
    _defaults = _fields("src dst type")


class ArpMatch(Plain):
    _defaults = _fields("op psrc pdst hwsrc hwdst")


class IPv4Match(Plain):
    _defaults = _fields("src dst proto ttl flags id tos")


class IPv6Match(Plain):
    _defaults = _fields("src dst nh hlim")


class IcmpMatch(Plain):
    _defaults = _fields("type code id seq")


class Icmpv6Match(Plain):
    _defaults = _fields("type code id seq")


class TcpMatch(Plain):
    _defaults = _fields("sport dport flags flags_include seq ack window")


class UdpMatch(Plain):
    _defaults = _fields("sport dport len")


class PayloadMatch(Plain):
    what: ClassVar[str] = "payload"
    _defaults = _fields("equals contains regex hex length")

    def hex_bytes(self) -> bytes | None:
        if self.hex is None:
            return None
        return bytes.fromhex(HEX_SEPARATORS.sub("", self.hex))


class PacketMatch(Plain):
    _defaults = _fields("from_ to capture ether arp ipv4 ipv6 icmp icmpv6 tcp udp payload checksums lengths")

    def captures(self) -> list[str]:
        if self.capture is None:
            return []
        return [self.capture] if isinstance(self.capture, str) else list(self.capture)


# ---------------------------------------------------------------------------------------------
# Checks (model/expectations.py)


class Only(Plain):
    _defaults = _fields("node capture", allow=())


class TcpHandshake(Plain):
    _defaults = _fields("client server capture")


class TcpClose(Plain):
    _defaults = _fields("between capture")


class RequestReply(Plain):
    _defaults = _fields("request reply", all=False)


class StreamMatch(PayloadMatch):
    what: ClassVar[str] = "stream"
    _defaults = {**PayloadMatch._defaults, **_fields("from_ to capture checksums")}


class Retransmissions(Plain):
    _defaults = _fields("from_ to capture", proto="tcp")


class TextMatch(Plain):
    _defaults = _fields("equals contains not_contains regex empty")


class OutputCheck(Plain):
    _defaults = _fields("step node exit_code timed_out stdout stderr")


class Count(Plain):
    _defaults = _fields("exactly at_least at_most")

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


CHECKS = ("packet", "sequence", "stream", "tcp_handshake", "tcp_close", "retransmissions", "request_reply", "only",
          "output")
COUNTED = ("packet", "retransmissions")  # the checks count / none apply to


class Expectation(Plain):
    _defaults = _fields("id title hint after within count " + " ".join(CHECKS), points=1.0, needs=(), none=False)

    @property
    def kind(self) -> str:
        """Which check this expectation holds (one of CHECKS)."""
        return next(c for c in CHECKS if getattr(self, c) is not None)

    def references(self) -> dict[str, set[str]]:
        """Names this expectation refers to: for cross-checking against the lab when loading, and
        for the captures it reads (capture_loss.py).

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


# ---------------------------------------------------------------------------------------------
# Endpoint syntax, shared by the loader and the verifier

MAC_RE = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _looks_like_address(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return bool(MAC_RE.match(s.lower()))



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
