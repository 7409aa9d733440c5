"""One constraint on a frame, and what a person needs when it fails.

A constraint is a test on a `Frame` plus its label, the expected value, the value seen,
the scapy fields it concerns (for the field-by-field diff) and the bytes it covers.
The matcher (match.py) and the field table (layers.py) build them; checks combine them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from socklab.verify.frames import Frame

FieldRef = tuple[tuple[str, ...], str]  # (scapy layer names, field name)
Span = tuple[int, int, bytes | None]  # [start, end) in the frame, and the bytes expected there


@dataclass
class C:
    """One constraint. desc reads as a requirement ("UDP destination port 12345")."""

    desc: str
    label: str
    expected: str
    test: Callable[[Frame], bool]
    seen: Callable[[Frame], str]
    fields: Sequence[FieldRef] = ()
    span: Callable[[Frame], list[Span]] | None = None
    layer: str | None = None  # the layer constraint this field constraint depends on
    slow: bool = False
    phrase: Callable[[Frame], str] | None = None
    is_layer: bool = False
    role: str = ""  # "from" / "to" / "time": used for "no packet from X at all"

    def why(self, f: Frame) -> str:
        if self.phrase is not None:
            return self.phrase(f)
        return f"{self.label} {self.seen(f)}, expected {self.expected}"


class Dyn(tuple):
    """Field references computed per frame (for checksums/lengths, which depend on the frame)."""

    fn: Callable[[Frame], list[FieldRef]]

    def __new__(cls, fn: Callable[[Frame], list[FieldRef]]):
        obj = super().__new__(cls, ())
        obj.fn = fn
        return obj


def fields_of(c: C, f: Frame) -> list[FieldRef]:
    if isinstance(c.fields, Dyn):
        return c.fields.fn(f)
    return list(c.fields)


def stack(f: Frame) -> str:
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


def layer_constraint(name: str, test: Callable[[Frame], bool], fields: Sequence[FieldRef] = ()) -> C:
    """The frame has this layer at all ("expected UDP, seen TCP" when it has another)."""
    return C(
        desc=name, label=name, expected="present", test=test, seen=stack, fields=fields,
        phrase=lambda f: f"expected {name}, seen {stack(f)}", is_layer=True,
    )


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
