"""The checks: each interprets one kind of expectation with the packet matcher of match.py.

Here: packet, sequence, only and output; the exchange checks (handshake, close,
request/reply) are in exchanges.py, stream and retransmissions in streamcheck.py. Each
failure names what was expected and what was seen instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from socklab import regexes
from socklab.errors import SocklabError
from socklab.model.plain import (
    ArpMatch,
    Expectation,
    IPv4Match,
    OutputCheck,
    PacketMatch,
    TextMatch,
)
from socklab.verify.context import StepRecord
from socklab.verify.endpoints import SpecError
from socklab.verify.frames import Frame, dedup_key, preview, summary
from socklab.verify.match import Matcher, compile_packet, icmpv6_types
from socklab.verify.render import MAX_EVIDENCE, diff_text, evidence_line, evidence_lines

if TYPE_CHECKING:
    from socklab.verify.engine import Engine

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


@dataclass
class Outcome:
    passed: bool
    message: str
    evidence: list[str] = field(default_factory=list)
    diff: str | None = None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _windowed(engine: Engine, e: Expectation, frames: list[Frame]) -> list[Frame]:
    win = engine.window(e)
    return frames if win is None else [f for f in frames if win.test(f)]


def _absence(engine: Engine, m: Matcher, frames: list[Frame], keys: Sequence[str],
             what: str = "matching packet") -> tuple[str, str | None]:
    """Why no frame matches m: nothing at all, nothing from/to the endpoints, or the nearest miss."""
    where = engine.describe_scope(keys)
    if not frames:
        return f"no packet at all on {where}", None
    near = m.nearest(frames)
    assert near is not None
    diff = diff_text(m, near, engine.t0)
    for role in ("time", "from", "to"):
        c = m.role(role)
        if c is not None and not any(c.test(f) for f in frames):
            if role == "time":
                return f"no packet at all {c.expected} on {where}; nearest is {near.where}: {m.explain(near)}", diff
            return f"no packet {c.desc} at all on {where}", diff
    msg = f"no {what} on {where}; nearest is {near.where}: {m.explain(near)}"
    others = [k for k in engine.all_captures() if k not in keys]
    if others:
        try:
            elsewhere = m.select(engine.frames(others))
        except SocklabError:  # another capture being unreadable must not hide this answer
            elsewhere = []
        if elsewhere:
            msg += f" (a matching packet was seen on {elsewhere[0].cap.key}: {elsewhere[0].where})"
    return msg, diff


def _with_also(frames: list[Frame], also: dict[int, list[Frame]], t0: float) -> list[str]:
    lines = []
    for f in frames[:MAX_EVIDENCE]:
        dup = also.get(id(f))
        note = f" (also on {', '.join(g.where for g in dup)})" if dup else ""
        lines.append(evidence_line(f, t0, note))
    if len(frames) > MAX_EVIDENCE:
        lines.append(f"... and {len(frames) - MAX_EVIDENCE} more")
    return lines


# ---------------------------------------------------------------------------------------------


def check_packet(engine: Engine, e: Expectation) -> Outcome:
    m = e.packet
    assert m is not None
    keys = engine.scope(m.capture)
    frames = engine.frames(keys)
    win = engine.window(e)
    matcher = compile_packet(m, engine.res, extra=[win] if win else [])
    hits = matcher.select(frames)
    also: dict[int, list[Frame]] = {}
    if len(keys) > 1:
        hits, also = engine.distinct(hits)
    lo, hi = (0, 0) if e.none else (e.count.bounds() if e.count else (1, None))
    wanted = "none" if e.none else (e.count.describe() if e.count else "at least 1")
    n, where = len(hits), engine.describe_scope(keys)
    ev = _with_also(hits, also, engine.t0)
    if lo <= n and (hi is None or n <= hi):
        if n == 0:
            return Outcome(True, f"no packet with {matcher.text} on {where}, as expected")
        return Outcome(True, f"{_plural(n, 'matching packet')} on {where} (expected {wanted}), first {hits[0].where}", ev)
    if n == 0:
        msg, diff = _absence(engine, matcher, frames, keys)
        return Outcome(False, msg, [], diff)
    if hi == 0:
        return Outcome(False, f"expected no packet with {matcher.text}, but saw {n}, first {hits[0].where}: {summary(hits[0])}", ev)
    return Outcome(False, f"{_plural(n, 'matching packet')} on {where}, expected {wanted}", ev)


def check_sequence(engine: Engine, e: Expectation) -> Outcome:
    items = e.sequence
    assert items
    win = engine.window(e)
    chosen: list[Frame] = []
    total = len(items)
    for i, item in enumerate(items):
        keys = engine.scope(item.capture)
        frames = engine.frames(keys)
        mt = compile_packet(item, engine.res, extra=[win] if win else [])
        prev = chosen[-1] if chosen else None
        later = frames if prev is None else [f for f in frames if _after(f, prev)]
        hit = next((f for f in later if mt.match(f)), None)
        if hit is not None:
            chosen.append(hit)
            continue
        ev = evidence_lines(chosen, engine.t0)
        label = f"packet {i + 1} of {total} ({mt.text})"
        if prev is None:
            msg, diff = _absence(engine, mt, frames, keys, what=f"packet {i + 1} of {total}")
            return Outcome(False, f"{label} never seen: {msg}", ev, diff)
        before = next((f for f in frames if mt.match(f) and f is not prev), None)
        if before is not None:
            return Outcome(False, f"{label} seen only before packet {i} ({prev.where}): at {before.where}; "
                                  f"the order is wrong", ev + [evidence_line(before, engine.t0, " (too early)")])
        if not later:
            return Outcome(False, f"{label} never seen: no packet at all after packet {i} ({prev.where})", ev)
        near = mt.nearest(later)
        assert near is not None
        return Outcome(False, f"{label} not seen after packet {i} ({prev.where}); nearest is {near.where}: "
                              f"{mt.explain(near)}", ev, diff_text(mt, near, engine.t0))
    return Outcome(True, f"all {total} packets seen in order: " + ", ".join(f.where for f in chosen),
                   evidence_lines(chosen, engine.t0))


def _after(f: Frame, prev: Frame) -> bool:
    if f.cap is prev.cap:
        return f.no > prev.no
    return f.ts >= prev.ts and dedup_key(f) != dedup_key(prev)


# ---------------------------------------------------------------------------------------------
# only


def _preset(name: str, res) -> Matcher:
    if name == "arp":
        return compile_packet(PacketMatch(arp=ArpMatch()), res)
    if name == "nd":
        return Matcher([icmpv6_types(range(133, 138), "IPv6 neighbour discovery")])
    if name == "mld":
        return Matcher([icmpv6_types((130, 131, 132, 143), "MLD")])
    if name == "igmp":
        return compile_packet(PacketMatch(ipv4=IPv4Match(proto=2)), res)
    raise SpecError(f"unknown allow preset {name!r}")


def check_only(engine: Engine, e: Expectation) -> Outcome:
    o = e.only
    assert o is not None
    res, t0 = engine.res, engine.t0
    node = res.node(o.node)
    keys = engine.scope(o.capture, default=engine.node_captures(o.node) or engine.all_captures())
    frames = _windowed(engine, e, engine.frames(keys))
    where = engine.describe_scope(keys)
    allow = [_preset(a, res) if isinstance(a, str) else compile_packet(a, res) for a in o.allow]
    mine = [f for f in frames if f.ipsrc in node.ips or f.esrc in node.macs]
    bad = [f for f in mine if not any(a.match(f) for a in allow)]
    if len(keys) > 1:
        bad, _ = engine.distinct(bad)
    if not bad:
        return Outcome(True, f"all {_plural(len(mine), 'packet')} from {o.node} on {where} are allowed")
    first = bad[0]
    msg = f"{_plural(len(bad), 'packet')} from {o.node} not allowed on {where}, first {first.where}: {summary(first)}"
    diff = None
    if allow:
        closest = max(allow, key=lambda a: a.score(first) / max(1, len(a.constraints)))
        msg += f"; closest allowed ({closest.text}): {closest.explain(first)}"
        diff = diff_text(closest, first, t0, title="first packet not allowed")
    return Outcome(False, msg, evidence_lines(bad, t0), diff)


# ---------------------------------------------------------------------------------------------
# Output of programs


def _text_problems(stream: str, want: TextMatch, got: str) -> list[str]:
    out = []
    shown = preview(got.encode(), 80) if got else "empty"
    if want.equals is not None and got.rstrip() != want.equals.rstrip():
        out.append(f"{stream} is {shown}, expected exactly {want.equals!r}")
    if want.contains is not None and want.contains not in got:
        near = ""
        if want.contains.lower() in got.lower():
            near = " (it does if case is ignored)"
        elif " ".join(want.contains.split()) in " ".join(got.split()):
            near = " (it does if spacing is ignored)"
        out.append(f"{stream} does not contain {want.contains!r}{near}; {stream} was {shown}")
    if want.not_contains is not None and want.not_contains in got:
        out.append(f"{stream} contains {want.not_contains!r}, it should not")
    if want.regex is not None and not regexes.found(regexes.compile_text(want.regex), got):
        out.append(f"{stream} does not match /{want.regex}/; {stream} was {shown}")
    if want.empty is True and got.strip():
        out.append(f"{stream} should be empty but is {shown}")
    if want.empty is False and not got.strip():
        out.append(f"{stream} is empty")
    return out


def _output_problems(o: OutputCheck, s: StepRecord) -> list[str]:
    out = []
    if o.timed_out is not None and s.timed_out != o.timed_out:
        out.append(f"timed out (killed after {s.ended - s.started:.1f}s)" if s.timed_out else "did not time out")
    if o.exit_code is not None and s.exit_code != o.exit_code:
        if s.exit_code is None:
            out.append(f"was still running when the run ended (no exit code), expected exit code {o.exit_code}")
        else:
            out.append(f"exit code {s.exit_code}, expected {o.exit_code}")
    if o.stdout is not None:
        out += _text_problems("stdout", o.stdout, s.stdout)
    if o.stderr is not None:
        out += _text_problems("stderr", o.stderr, s.stderr)
    return out


def _step_line(s: StepRecord) -> str:
    state = "timed out" if s.timed_out else ("still running" if s.exit_code is None else f"exit {s.exit_code}")
    return f"step {s.id} on {s.node}: {state} after {s.ended - s.started:.2f}s: {s.command}"


def _tail(text: str, n: int = 20) -> list[str]:
    lines = text.splitlines()
    shown = lines[-n:]
    head = [f"    ... ({len(lines) - n} earlier lines)"] if len(lines) > n else []
    return head + [f"    | {ln}" for ln in shown] if shown else ["    (empty)"]


def check_output(engine: Engine, e: Expectation) -> Outcome:
    o = e.output
    assert o is not None
    if o.step is not None:
        steps = [engine.step(o.step)]
    else:
        steps = [s for s in engine.ctx.steps if s.node == o.node]
        if not steps:
            if o.node not in engine.ctx.nodes:
                engine.res.node(o.node or "")  # raises unknown node
            raise SpecError(f"no step ran on node {o.node!r}")
    results = [(s, _output_problems(o, s)) for s in steps]
    for s, problems in results:
        if not problems:
            return Outcome(True, f"step {s.id!r} on {s.node}: as expected", [_step_line(s)])
    s, problems = min(results, key=lambda r: len(r[1]))
    lines = [_step_line(s)]
    for stream, want in (("stdout", o.stdout), ("stderr", o.stderr)):
        if want is not None:
            lines += [f"  {stream}:"] + _tail(getattr(s, stream))
    which = f"step {s.id!r}" + (f" (of {len(steps)} on {o.node})" if len(steps) > 1 else "")
    return Outcome(False, f"{which}: " + "; ".join(problems), [_step_line(x) for x, _ in results], "\n".join(lines))
