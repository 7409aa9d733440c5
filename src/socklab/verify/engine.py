"""verify(): check expectations against a run's captures and step records.

The engine reads each capture once (struct reader + pre-decode), caches the frames, and
hands each expectation to its check in checks.py. A check that cannot run (missing
capture, unknown node or step) yields an `error` result, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from socklab.errors import InfrastructureError
from socklab.model.lab import IfaceRef
from socklab.model.plain import Expectation
from socklab.regexes import RegexTimeout
from socklab.regexes import budget as regex_budget
from socklab.verify.context import StepRecord, VerifyContext
from socklab.verify.endpoints import Resolver, SpecError
from socklab.verify.frames import Capture, Frame, decode, dedup_key
from socklab.verify.match import C, window_constraint
from socklab.verify.pcap import CaptureFormatError, first_timestamp, read_records
from socklab.verify.results import ExpectationResult

if TYPE_CHECKING:
    from socklab.verify.checks import Outcome

DEDUP_WINDOW = 1.0  # seconds: the same packet on two captures closer than this counts once


class CaptureError(InfrastructureError):
    """A capture file is missing or unreadable: the run failed, not the student."""


def verify(expectations: Sequence[Expectation], ctx: VerifyContext) -> list[ExpectationResult]:
    """Check every expectation against the run described by ctx; one result each, in order.

    Captures are read once and shared by all expectations. Never raises for a bad capture
    or a name the lab does not know: those give results with `error` set. An expectation
    whose `needs` did not all pass is skipped (worth 0, no diff) instead of checked.
    """
    engine = Engine(ctx)
    by_id = {e.id: e for e in expectations}
    done: dict[str, ExpectationResult] = {}
    return [_result(engine, e, by_id, done, ()) for e in expectations]


def _result(engine: Engine, e: Expectation, by_id: dict[str, Expectation], done: dict[str, ExpectationResult],
            path: tuple[str, ...]) -> ExpectationResult:
    """e's result, checking its prerequisites first (a plain function: a self-referencing closure
    would keep the engine and its frames alive until the next garbage collection)."""
    if e.id in done:
        return done[e.id]
    problem = _unknown_or_cycle(e, by_id, path)
    if problem:
        r = ExpectationResult(e.id, e.title, e.points, False, 0.0, f"could not check: {problem}", error=problem)
    else:
        deps = [(n, _result(engine, by_id[n], by_id, done, (*path, e.id))) for n in e.needs]
        r = _skip(e, deps) or engine.check(e)
    done[e.id] = r
    return r


def _unknown_or_cycle(e: Expectation, by_id: dict[str, Expectation], path: tuple[str, ...]) -> str | None:
    for n in e.needs:
        if n not in by_id:
            return f"needs {n!r}, which is not an expectation of this lab"
        if n in path or n == e.id:
            cycle = [*path[path.index(n):], e.id, n] if n in path else [e.id, n]
            return f"needs form a cycle: {' -> '.join(cycle)}"
    return None


def _skip(e: Expectation, deps: list[tuple[str, ExpectationResult]]) -> ExpectationResult | None:
    """The skipped result when a prerequisite did not pass, naming which and why."""
    groups: dict[str, list[str]] = {}
    for name, r in deps:
        if r.passed:
            continue
        why = "was skipped" if r.skipped else ("could not be checked" if r.error else "failed")
        groups.setdefault(why, []).append(name)
    if not groups:
        return None
    parts = [f"{' and '.join(names)}, which {why.replace('was ', 'were ') if len(names) > 1 else why}"
             for why, names in groups.items()]
    return ExpectationResult(e.id, e.title, e.points, False, 0.0, "skipped: needs " + "; needs ".join(parts),
                             skipped=True)


class Engine:
    """Loads and caches the frames of a run; resolves capture scopes, steps and time windows."""

    def __init__(self, ctx: VerifyContext):
        self.ctx = ctx
        self.res = Resolver(ctx.nodes)
        self._frames: dict[str, list[Frame]] = {}
        self._merged: dict[tuple[str, ...], list[Frame]] = {}
        self._t0: float | None = None

    @property
    def t0(self) -> float:
        """Time zero for "+1.234s" in messages: the first step's start, else the first packet."""
        if self._t0 is None:
            starts = [s.started for s in self.ctx.steps]
            if not starts:
                starts = [t for p in self.ctx.captures.values() if (t := first_timestamp(p)) is not None]
            self._t0 = min(starts) if starts else 0.0
        return self._t0

    # -- captures ---------------------------------------------------------------------------

    def all_captures(self) -> list[str]:
        return sorted(self.ctx.captures)

    def scope(self, spec: str | list[str] | None, default: list[str] | None = None) -> list[str]:
        """Capture keys for a `capture:` value: "node:iface", a node name (all its captures), or a list."""
        if spec is None:
            keys = default if default is not None else self.all_captures()
            if not keys:
                raise CaptureError("the run has no captures (add a capture: list to the lab)")
            return keys
        out: list[str] = []
        for item in [spec] if isinstance(spec, str) else spec:
            if item in self.ctx.captures:
                out.append(item)
                continue
            mine = [k for k in self.all_captures() if IfaceRef.parse(k).node == item]
            if not mine:
                known = ", ".join(self.all_captures()) or "none"
                raise SpecError(f"no capture {item!r} in this run (captures: {known})")
            out += mine
        return list(dict.fromkeys(out))

    def node_captures(self, node: str) -> list[str]:
        return [k for k in self.all_captures() if IfaceRef.parse(k).node == node]

    def frames(self, keys: Sequence[str]) -> list[Frame]:
        """Frames of these captures, merged in time order."""
        key = tuple(sorted(keys))
        if key in self._merged:
            return self._merged[key]
        lists = [self._load(k) for k in key]
        if len(lists) == 1:
            merged = lists[0]
        else:
            merged = sorted((f for fl in lists for f in fl), key=lambda f: f.ts)
        self._merged[key] = merged
        return merged

    def _load(self, key: str) -> list[Frame]:
        if key in self._frames:
            return self._frames[key]
        path = self.ctx.captures.get(key)
        if path is None:
            raise SpecError(f"no capture {key!r} in this run (captures: {', '.join(self.all_captures()) or 'none'})")
        try:
            records, truncated = read_records(path)
        except FileNotFoundError:
            raise CaptureError(f"capture file for {key} is missing: {path}") from None
        except (OSError, CaptureFormatError) as e:
            raise CaptureError(f"capture file for {key} is unreadable ({path}): {e}") from None
        frames = decode(Capture(key, path, truncated), records)
        self._frames[key] = frames
        return frames

    @staticmethod
    def distinct(frames: list[Frame]) -> tuple[list[Frame], dict[int, list[Frame]]]:
        """Drop repeats of one packet seen on several captures (same bytes bar TTL/checksum, < 1 s apart).

        Returns the kept frames and, per kept frame id, the other sightings.
        """
        seen: dict[bytes, Frame] = {}
        kept: list[Frame] = []
        also: dict[int, list[Frame]] = {}
        for f in frames:
            k = dedup_key(f)
            first = seen.get(k)
            if first is not None and first.cap is not f.cap and f.ts - first.ts <= DEDUP_WINDOW:
                if not any(g.cap is f.cap for g in also.get(id(first), [])):
                    also.setdefault(id(first), []).append(f)
                    continue
            seen[k] = f
            kept.append(f)
        return kept, also

    def describe_scope(self, keys: Sequence[str]) -> str:
        if list(keys) == self.all_captures() and len(keys) > 1:
            return "any capture"
        return " or ".join(keys)

    # -- steps and time ---------------------------------------------------------------------

    def step(self, step_id: str) -> StepRecord:
        for s in self.ctx.steps:
            if s.id == step_id:
                return s
        known = ", ".join(s.id for s in self.ctx.steps) or "none"
        raise SpecError(f"no step {step_id!r} in this run (steps: {known})")

    def window(self, e: Expectation) -> C | None:
        if e.after is None:
            return None
        s = self.step(e.after)
        hi = s.started + e.within if e.within is not None else None
        return window_constraint(s.started, hi, e.after, s.started)

    # -- checking ---------------------------------------------------------------------------

    def check(self, e: Expectation) -> ExpectationResult:
        """Run e's check (ignoring `needs`: verify() decides about prerequisites)."""
        try:
            with regex_budget():
                out = _CHECKS[e.kind](self, e)
        except (SpecError, CaptureError, RegexTimeout) as err:
            return ExpectationResult(e.id, e.title, e.points, False, 0.0, f"could not check: {err}", error=str(err))
        except Exception as err:  # a bug in socklab must not sink the whole report
            msg = f"internal error while checking: {type(err).__name__}: {err}"
            return ExpectationResult(e.id, e.title, e.points, False, 0.0, msg, error=msg)
        message = out.message
        if not out.passed and e.hint:
            message += f" (hint: {e.hint})"
        return ExpectationResult(
            e.id, e.title, e.points, out.passed, e.points if out.passed else 0.0, message,
            out.evidence, out.diff if not out.passed else None,
        )


def _table() -> dict[str, Callable[[Engine, Expectation], Outcome]]:
    from socklab.verify import checks, exchanges, streamcheck

    return {
        "packet": checks.check_packet, "sequence": checks.check_sequence, "stream": streamcheck.check_stream,
        "tcp_handshake": exchanges.check_tcp_handshake, "tcp_close": exchanges.check_tcp_close,
        "retransmissions": streamcheck.check_retransmissions, "request_reply": exchanges.check_request_reply,
        "only": checks.check_only, "output": checks.check_output,
    }


class _LazyTable(dict):
    """The check table, built on first use so that importing the engine stays cheap."""

    def __missing__(self, kind: str):
        for k, fn in _table().items():
            self.setdefault(k, fn)
        return dict.__getitem__(self, kind)


_CHECKS: dict[str, Callable[[Engine, Expectation], Outcome]] = _LazyTable()
