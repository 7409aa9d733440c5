"""Impaired links and exact faults as written in a lab file (`impair:`, `faults:`, link steps).

Values are validated here (150% loss, a negative delay, an unknown unit: one clear error);
which link a fault sits on and whether its names exist is decided when the lab resolves.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from socklab.model.expectations import PacketMatch
from socklab.model.values import parse_seconds

_PERCENT_RE = re.compile(r"^\s*(-?)\s*(\d+(?:\.\d*)?|\.\d+)\s*%?\s*$")
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmg]?)(bit|bps)(?:/s)?\s*$", re.IGNORECASE)


def parse_time(v: Any) -> float:
    """Seconds for a delay or jitter (the lab file's one time grammar); 0 up to a minute."""
    seconds = parse_seconds(v, "a time", "20ms, 1.5s, 300us")
    if seconds < 0:
        raise ValueError(f"{v} is negative; a delay is 0 or more")
    if seconds > 60:
        raise ValueError(f"{v} is more than a minute")
    return seconds


def parse_percent(v: Any) -> float:
    """A probability in [0, 1] from 5%, 0.5% or a plain number of percent (5 means 5%)."""
    if isinstance(v, bool):
        raise ValueError("a percentage is like 5% or 0.5%")
    if isinstance(v, int | float):
        pct = float(v)
    else:
        m = _PERCENT_RE.match(str(v))
        if not m:
            raise ValueError(f"{v!r} is not a percentage (like 5% or 0.5%)")
        pct = -float(m.group(2)) if m.group(1) else float(m.group(2))
    if pct < 0:
        raise ValueError(f"{v} is negative; a percentage is between 0% and 100%")
    if pct > 100:
        raise ValueError(f"{v if isinstance(v, str) else f'{v}%'} is more than 100%")
    return pct / 100.0


def parse_rate(v: Any) -> float:
    """Bits per second from 1mbit, 100kbit, 1gbit (bit units) or 125kbps (bytes per second)."""
    if isinstance(v, bool):
        raise ValueError("a rate is like 1mbit or 100kbit")
    if isinstance(v, int | float):
        bits = float(v)
    else:
        m = _RATE_RE.match(str(v))
        if not m:
            raise ValueError(f"{v!r} is not a rate (like 1mbit, 100kbit, 1gbit)")
        bits = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
        bits *= 8 if m.group(3).lower() == "bps" else 1
    if bits <= 0:
        raise ValueError("a rate must be positive")
    return bits


Time = Annotated[float, BeforeValidator(parse_time)]
Percent = Annotated[float, BeforeValidator(parse_percent)]
Rate = Annotated[float, BeforeValidator(parse_rate)]

IMPAIRMENTS = ("delay", "jitter", "loss", "duplicate", "reorder", "corrupt", "rate")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)  # see values.Model


class Impairment(_Strict):
    """What one direction of a link does to the frames it carries.

    delay/jitter: each frame waits delay ± jitter (uniform), order kept unless reordered;
    loss/duplicate/corrupt: the probability a frame is dropped, sent twice, or has one
    random byte after its Ethernet header inverted; reorder: the probability a frame is
    held back until the next frame has passed it (at most 50 ms); rate: a token bucket
    (frames queue up to 1000, then are dropped).
    """

    delay: Time = 0.0
    jitter: Time = 0.0
    loss: Percent = 0.0
    duplicate: Percent = 0.0
    reorder: Percent = 0.0
    corrupt: Percent = 0.0
    rate: Rate | None = None

    @property
    def active(self) -> bool:
        return bool(self.delay or self.jitter or self.loss or self.duplicate or self.reorder or self.corrupt
                    or self.rate)

    def describe(self) -> str:
        parts = []
        for name in ("delay", "jitter"):
            if getattr(self, name):
                parts.append(f"{name} {getattr(self, name) * 1000:g}ms")
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            if getattr(self, name):
                parts.append(f"{name} {getattr(self, name) * 100:g}%")
        if self.rate:
            parts.append(f"rate {_rate_text(self.rate)}")
        return ", ".join(parts) or "none"


def _rate_text(bits: float) -> str:
    for unit, size in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bits >= size:
            return f"{bits / size:g}{unit}"
    return f"{bits:g}bit"


def _impair_shorthand(v: Any) -> Any:
    """`impair: {...}` is either one Impairment for both directions or {end: Impairment, ...}."""
    if v is None:
        return None
    if isinstance(v, dict) and v and not any(k in IMPAIRMENTS for k in v):
        return {"per_end": v}
    if isinstance(v, dict):
        return {"both": v}
    return v


class LinkImpairment(_Strict):
    """Both directions alike (`both`), or per direction keyed by the end whose egress is impaired."""

    both: Impairment | None = None
    per_end: dict[str, Impairment] = {}

    def for_end(self, end: str) -> Impairment:
        """The impairment of frames leaving `end` ("node:iface") into the link."""
        return self.per_end.get(end) or self.both or Impairment()


ImpairField = Annotated[LinkImpairment | None, BeforeValidator(_impair_shorthand)]

FAULT_ACTIONS = ("drop", "corrupt", "delay", "duplicate")


def _nth_list(v: Any) -> Any:
    return [v] if isinstance(v, int) and not isinstance(v, bool) else v


class FaultSpec(_Strict):
    """One exact fault: the nth packets (1-based, among those matching) on a link are dropped,
    corrupted, delayed or duplicated. `link:` is the end ("node:iface") whose egress the fault
    sits on; by default the matcher's `from` node's interface when it has just one."""

    drop: PacketMatch | None = None
    corrupt: PacketMatch | None = None
    delay: PacketMatch | None = None
    duplicate: PacketMatch | None = None
    nth: Annotated[list[Annotated[int, Field(ge=1)]], BeforeValidator(_nth_list), Field(min_length=1)]
    link: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,23}:[a-zA-Z][a-zA-Z0-9_-]{0,14}$")] | None = None
    offset: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="corrupt: the byte to invert, counted from the IP header (default: the last byte)")
    by: Time | None = Field(default=None, description="delay: how long the packet is held back")

    @model_validator(mode="after")
    def _one_action(self) -> FaultSpec:
        given = [a for a in FAULT_ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            raise ValueError(f"a fault needs exactly one of {', '.join(FAULT_ACTIONS)}; {found}")
        action = given[0]
        if self.by is not None and action != "delay":
            raise ValueError("by: belongs to delay faults")
        if action == "delay" and not self.by:
            raise ValueError("a delay fault needs by: (how long, like 300ms)")
        if self.offset is not None and action != "corrupt":
            raise ValueError("offset: belongs to corrupt faults")
        if self.match.capture is not None:
            raise ValueError("a fault matches packets on its link; capture: has no meaning here (use link: node:iface)")
        return self

    @property
    def action(self) -> str:
        return next(a for a in FAULT_ACTIONS if getattr(self, a) is not None)

    @property
    def match(self) -> PacketMatch:
        return getattr(self, self.action)


def link_action_of(down: bool | None, up: bool | None, impair: Impairment | None, reset: bool | None) -> str | None:
    """The one action a link step takes (None: several or none were given)."""
    given = [name for name, v in (("down", down), ("up", up), ("impair", impair), ("reset", reset)) if v]
    return given[0] if len(given) == 1 else None


Seed = Annotated[int, Field(ge=0, le=2**63 - 1)]
