"""The stream and retransmissions checks: payload matchers over reassembled TCP streams, and resends.

Kept apart from checks.py because both work on `streams.Stream`, not on single frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from socklab import regexes
from socklab.model.plain import Expectation, StreamMatch
from socklab.verify.checks import Outcome, _plural, _windowed
from socklab.verify.endpoints import Ends
from socklab.verify.frames import Frame, checksum_fields, preview
from socklab.verify.pcap import iter_hexdump
from socklab.verify.render import MAX_EVIDENCE, evidence_line
from socklab.verify.streams import Stream, retransmitted, streams, udp_repeats

if TYPE_CHECKING:
    from socklab.verify.engine import Engine

MAX_DUMP = 256  # stream bytes shown in a diff


@dataclass
class Want:
    """One requirement on a stream's bytes."""

    desc: str
    test: Callable[[Stream], bool]
    why: Callable[[Stream], str]
    first_diff: Callable[[Stream], int | None] = lambda s: None
    expected: bytes | None = None  # the exact bytes wanted (equals / hex)


def _seen(s: Stream) -> str:
    return f"{preview(s.data, 60)} ({len(s.data)} bytes)"


def _bad_checksums(s: Stream) -> list[tuple[Frame, str]]:
    out = []
    for g in s.data_segments:
        bad = [(lab, val, ok) for lab, _, val, ok in checksum_fields(g.frame) if ok is not None and val != ok]
        if bad:
            out.append((g.frame, "; ".join(f"{lab} 0x{v:04x}, correct would be 0x{ok:04x}" for lab, v, ok in bad)))
    return out


def _wants(m: StreamMatch) -> list[Want]:
    out: list[Want] = []
    if m.equals is not None or m.hex is not None:
        want = m.hex_bytes() if m.hex is not None else m.equals.encode()  # type: ignore[union-attr]
        assert want is not None
        shown = f"0x{want.hex()}" if m.hex is not None else preview(want, 60)

        def diff_at(s: Stream, want: bytes = want) -> int | None:
            if s.data == want:
                return None
            return next((i for i, (a, b) in enumerate(zip(s.data, want, strict=False)) if a != b),
                        min(len(s.data), len(want)))

        def why_eq(s: Stream, want: bytes = want, shown: str = shown) -> str:
            i = diff_at(s)
            if s.data and want.startswith(s.data):
                return f"stream {_seen(s)} is only the first {len(s.data)} of the {len(want)} bytes expected ({shown})"
            if s.data.startswith(want):
                return f"stream {_seen(s)} has {_plural(len(s.data) - len(want), 'byte')} more than {shown}"
            return f"stream {_seen(s)} differs from {shown} from byte {i} on"

        out.append(Want(f"stream equal to {shown}", lambda s, w=want: s.data == w, why_eq, diff_at, want))
    if m.contains is not None:
        sub = m.contains.encode()
        out.append(Want(f"stream containing {preview(sub, 60)}", lambda s: sub in s.data,
                        lambda s: f"stream {_seen(s)} does not contain {preview(sub, 60)}"))
    if m.regex is not None:
        rx = regexes.compile_bytes(m.regex)
        out.append(Want(f"stream matching /{m.regex}/", lambda s: regexes.found(rx, s.data),
                        lambda s: f"stream {_seen(s)} does not match /{m.regex}/"))
    if m.length is not None:
        n = m.length
        out.append(Want(f"stream of {n} bytes", lambda s: len(s.data) == n,
                        lambda s: f"stream of {len(s.data)} bytes, expected {n}"))
    if m.checksums == "valid":
        def why_ck(s: Stream) -> str:
            bad = _bad_checksums(s)
            return f"{_plural(len(bad), 'segment')} with a wrong checksum, first {bad[0][0].where}: {bad[0][1]}"

        out.append(Want("valid checksums on every segment", lambda s: not _bad_checksums(s), why_ck))
    return out


def _scope_frames(engine: Engine, e: Expectation, capture, src: Ends, dst: Ends, proto: int) -> tuple[list[Frame], list[str]]:
    """The frames of proto from src's host to dst's host, windowed, repeats across captures removed."""
    keys = engine.scope(capture)
    frames = [f for f in _windowed(engine, e, engine.frames(keys)) if f.l4p == proto and src.has(f, True) and dst.has(f, False)]
    if len(keys) > 1:
        frames, _ = engine.distinct(frames)
    return frames, keys


def _nothing(engine: Engine, frames: list[Frame], src: Ends, dst: Ends, names: tuple[str, str], where: str,
             what: str) -> str:
    a, b = names
    if not frames:
        return f"no {what} from {a} to {b} at all on {where}"
    ports = sorted({f.dport for f in frames if dst.port is not None and f.dport != dst.port})
    sports = sorted({f.sport for f in frames if src.port is not None and f.sport != src.port})
    if ports:
        return f"no {what} from {a} to {b}; {what}s from {a} seen only to port {', '.join(map(str, ports[:5]))}"
    return f"no {what} from {a} to {b}; {what}s seen only from port {', '.join(map(str, sports[:5]))}"


def _segment_lines(engine: Engine, s: Stream, limit: int = MAX_EVIDENCE) -> list[str]:
    resent = {id(g): why for g, why in retransmitted(s)}
    lines = []
    segs = s.data_segments
    for g in segs[:limit]:
        span = f"bytes {g.start}..{g.start + g.length - 1}" if g.length else "no data"
        note = f" ({resent[id(g)]})" if id(g) in resent else ""
        lines.append(evidence_line(g.frame, engine.t0, f" [{span}]{note}"))
    if len(segs) > limit:
        lines.append(f"... and {len(segs) - limit} more segments")
    return lines


def _diff(engine: Engine, s: Stream, wants: list[Want], index: int, count: int) -> str:
    lines = [f"stream {s.name}: {len(s.data)} bytes in {_plural(len(s.data_segments), 'segment')}"
             + (f" (connection {index + 1} of {count})" if count > 1 else ""), ""]
    width = max([len(w.desc) for w in wants] + [8])
    lines.append(f"    {'expected':<{width}}   seen")
    for w in wants:
        lines.append(f"  {'✓' if w.test(s) else '✗'} {w.desc:<{width}}   {_seen(s)}")
    marks: set[int] = set()
    first = next((i for w in wants if not w.test(s) and (i := w.first_diff(s)) is not None), None)
    if first is not None and first < len(s.data):
        marks.add(first)
    lo = 0 if first is None or first < MAX_DUMP else (first // 16) * 16 - 64
    shown = s.data[lo : lo + MAX_DUMP]
    lines += ["", "  stream bytes" + (" (^^ = first difference)" if marks else "") + ":"]
    if lo:
        lines.append(f"    ... ({lo} bytes before)")
    lines += ["    " + t for t in iter_hexdump(shown, {m - lo for m in marks}, base=lo)] or ["    (empty)"]
    if len(s.data) > lo + MAX_DUMP:
        lines.append(f"    ... ({len(s.data) - lo - MAX_DUMP} more bytes)")
    eq = next((w for w in wants if w.expected is not None and not w.test(s)), None)
    if eq is not None and eq.expected is not None and first is not None:
        lines.append(f"    at byte {first}: seen {preview(s.data[first : first + 16], 16)}, "
                     f"expected {preview(eq.expected[first : first + 16], 16)}")
    lines += ["", "  segments (byte offsets in the stream):"] + ["    " + x for x in _segment_lines(engine, s)]
    notes = s.notes()
    if notes:
        lines += [""] + [f"  note: {n}" for n in notes]
    return "\n".join(lines)


def check_stream(engine: Engine, e: Expectation) -> Outcome:
    m = e.stream
    assert m is not None
    src, dst = engine.res.endpoint(m.from_), engine.res.endpoint(m.to)
    frames, keys = _scope_frames(engine, e, m.capture, src, dst, 6)
    where = engine.describe_scope(keys)
    found = streams(frames, src, dst)
    wants = _wants(m)
    if not found:
        msg = _nothing(engine, frames, src, dst, (m.from_, m.to), where, "TCP segment")
        return Outcome(False, msg + _elsewhere(engine, e, m.capture, src, dst, wants))
    for s in found:
        if all(w.test(s) for w in wants):
            extra = "" if s.syn is not None else " (capture starts mid-connection)"
            return Outcome(True, f"stream {s.name}: {len(s.data)} bytes in {_plural(len(s.data_segments), 'segment')}, "
                                 f"{' and '.join(w.desc.removeprefix('stream ') for w in wants)}{extra}",
                           _segment_lines(engine, s))
    best_i, best = min(enumerate(found), key=lambda p: (sum(not w.test(p[1]) for w in wants), -len(p[1].data)))
    if not best.data_segments:
        expected = " and ".join(w.desc.removeprefix("stream ") for w in wants)
        msg = (f"connection {best.name} carried no data ({_plural(len(best.frames), 'segment')}, none with payload); "
               f"expected a stream that {expected}")
    else:
        msg = "; ".join(w.why(best) for w in wants if not w.test(best))
        msg = f"{best.name}: {msg}"
    if best.holes and best.data_segments:
        a, b = best.holes[0]
        msg += f" (bytes {a}..{b - 1} were never captured)"
    if len(found) > 1:
        msg += f" ({len(found)} connections from {m.from_} to {m.to}, none as expected)"
    msg += _elsewhere(engine, e, m.capture, src, dst, wants)
    return Outcome(False, msg, _segment_lines(engine, best), _diff(engine, best, wants, best_i, len(found)))


def _elsewhere(engine: Engine, e: Expectation, capture, src: Ends, dst: Ends, wants: list[Want]) -> str:
    """Where the expected bytes did go, if anywhere: another port between the two hosts, or the other way."""
    a, b = (Ends(x.spec, x.ips, x.macs, None, x.node) for x in (src, dst))
    tries = ((a, b, "went to another port"), (b, a, "went the other way"))
    for x, y, how in tries:
        if (x, y) == (src, dst):
            continue
        frames, _ = _scope_frames(engine, e, capture, x, y, 6)
        for s in streams(frames, x, y):
            if s.data and all(w.test(s) for w in wants) and (s.src, s.dst) != (src, dst):
                return f"; the expected bytes {how}: stream {s.name}"
    return ""


def check_retransmissions(engine: Engine, e: Expectation) -> Outcome:
    r = e.retransmissions
    assert r is not None
    src, dst = engine.res.endpoint(r.from_), engine.res.endpoint(r.to)
    proto = 6 if r.proto == "tcp" else 17
    frames, keys = _scope_frames(engine, e, r.capture, src, dst, proto)
    where = engine.describe_scope(keys)
    lo, hi = (0, 0) if e.none else (e.count.bounds() if e.count else (1, None))
    wanted = "none" if e.none else (e.count.describe() if e.count else "at least 1")
    t0 = engine.t0
    if proto == 6:
        found = streams(frames, src, dst)
        resent = [(g.frame, why) for s in found for g, why in retransmitted(s)]
        total = sum(len(s.data_segments) + sum(1 for f in s.frames if f.tflags & 0x03 and f.pe == f.pl) for s in found)
        unit, what = "segment", f" on {_plural(len(found), 'connection')}"
        ev = [evidence_line(f, t0, f" ({why})") for f, why in resent[:MAX_EVIDENCE]]
        sent = bool(found)
    else:
        dgrams, again = udp_repeats(frames, src, dst)
        resent = [(f, "repeats an earlier payload") for f in again]
        total, unit, what = len(dgrams), "datagram", ""
        ev = [evidence_line(f, t0, " (repeats an earlier payload)") for f in again[:MAX_EVIDENCE]]
        sent = bool(dgrams)
    if len(resent) > MAX_EVIDENCE:
        ev.append(f"... and {len(resent) - MAX_EVIDENCE} more")
    n = len(resent)
    ok = lo <= n and (hi is None or n <= hi)
    proto_name = r.proto.upper()
    if not sent:
        msg = _nothing(engine, frames, src, dst, (r.from_, r.to), where, f"{proto_name} {unit}")
        return Outcome(ok, msg + ("" if not ok else ", so no retransmission, as expected"))
    summary = f"{_plural(n, 'retransmission')} from {r.from_} to {r.to} among {_plural(total, unit)}{what} on {where}"
    if ok:
        return Outcome(True, f"{summary} (expected {wanted})", ev)
    if n == 0:
        return Outcome(False, f"no retransmission from {r.from_} to {r.to}, expected {wanted}: "
                              f"{_plural(total, unit)}{what} on {where}, each sent once", ev)
    return Outcome(False, f"{summary}, expected {wanted}; first {resent[0][0].where} ({resent[0][1]})", ev)
