"""The checks: each interprets one kind of expectation with the packet matcher of match.py.

Composite checks (handshake, close, request/reply, only) are built from the same matcher
plus the pairing logic their protocol needs; each failure names what was expected and
what was seen instead.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from socklab.errors import SocklabError
from socklab.model.expectations import (
    ArpMatch,
    Expectation,
    IPv4Match,
    OutputCheck,
    PacketMatch,
    TcpMatch,
    TextMatch,
)
from socklab.verify.context import StepRecord
from socklab.verify.endpoints import Ends, SpecError
from socklab.verify.frames import Frame, dedup_key, hostport, ip_text, preview, summary
from socklab.verify.match import Matcher, compile_packet, icmpv6_types
from socklab.verify.render import MAX_EVIDENCE, diff_text, dissect, evidence_line, evidence_lines

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
# TCP


def _seq(f: Frame) -> int:
    return f.seq_ack()[0]


def _ack(f: Frame) -> int:
    return f.seq_ack()[1]


def _at_port(ends: Ends, f: Frame, src: bool) -> bool:
    if not ends.has(f, src):
        return False
    return ends.port is None or (f.sport if src else f.dport) == ends.port


def _peer(engine: Engine, ip: bytes | None, port: int | None, base: Ends | None = None) -> str:
    if base is not None and ip in base.ips:
        return f"port {port}"
    own = engine.res.owner.get(ip) if ip else None
    text = hostport(ip, port)
    return text + (f" ({own.split(':')[0]})" if own else "")


def check_tcp_handshake(engine: Engine, e: Expectation) -> Outcome:
    h = e.tcp_handshake
    assert h is not None
    res, t0 = engine.res, engine.t0
    server = res.endpoint(h.server)
    client = res.endpoint(h.client) if h.client else None
    keys = engine.scope(h.capture)
    frames = _windowed(engine, e, engine.frames(keys))
    where = engine.describe_scope(keys)
    tcp = [f for f in frames if f.l4p == 6]

    def from_client(f: Frame) -> bool:
        return client is None or _at_port(client, f, True)

    syns = [f for f in tcp if f.tflags & SYN and not f.tflags & (ACK | RST) and _at_port(server, f, False) and from_client(f)]
    flows: dict[tuple, list[Frame]] = {}
    for f in tcp:
        flows.setdefault((f.ipsrc, f.sport, f.ipdst, f.dport), []).append(f)

    if not syns:
        syn_m = compile_packet(PacketMatch(**{"from": h.client, "to": h.server, "tcp": TcpMatch(flags="S")}), res)
        near = syn_m.nearest(frames)
        diff = diff_text(syn_m, near, t0) if near is not None else None
        if client is not None and not any(client.has(f, True) for f in frames):
            return Outcome(False, f"no packet from {client.spec} at all on {where}", [], diff)
        other = [f for f in tcp if f.tflags & SYN and not f.tflags & (ACK | RST) and (client is None or client.has(f, True))]
        msg = f"no SYN to {server.text()} seen"
        if other:
            dests = list(dict.fromkeys(_peer(engine, f.ipdst, f.dport, server) for f in other))
            msg += "; SYNs seen: to " + ", to ".join(dests[:5])
        else:
            msg += f"; no TCP connection attempt at all{' from ' + client.spec if client else ''} on {where}"
        return Outcome(False, msg, evidence_lines(other, t0), diff)

    best: tuple[int, list[Frame], str] = (0, [], "")
    for syn in syns:
        s_seq = _seq(syn)
        back = flows.get((syn.ipdst, syn.dport, syn.ipsrc, syn.sport), [])
        back = [f for f in back if _after(f, syn)]
        synack = next((f for f in back if f.tflags & (SYN | ACK) == SYN | ACK and _ack(f) == (s_seq + 1) & 0xFFFFFFFF), None)
        if synack is None:
            rst = next((f for f in back if f.tflags & RST), None)
            if rst is not None:
                why = (f"SYN {syn.where} to {server.text()} was refused: RST from the server ({rst.where}); "
                       f"is anything listening on port {syn.dport}?")
                cand = (1, [syn, rst], why)
            else:
                sent = any(server.has(f, True) for f in frames)
                tries = sum(1 for f in syns if (f.ipsrc, f.sport, f.dport) == (syn.ipsrc, syn.sport, syn.dport))
                why = f"SYN {syn.where} to {server.text()} got no SYN-ACK"
                why += f" (SYN sent {tries} times)" if tries > 1 else ""
                why += "" if sent else f"; the server sent no packet at all on {where}"
                cand = (1, [syn], why)
            if cand[0] > best[0] or not best[1]:
                best = cand
            continue
        fwd = [f for f in flows.get((syn.ipsrc, syn.sport, syn.ipdst, syn.dport), []) if _after(f, synack)]
        a_seq = _seq(synack)
        ack = next((f for f in fwd if f.tflags & ACK and not f.tflags & (SYN | RST) and _ack(f) == (a_seq + 1) & 0xFFFFFFFF), None)
        if ack is None:
            why = f"SYN-ACK {synack.where} was never acknowledged by the client (no final ACK of the handshake)"
            if best[0] < 2:
                best = (2, [syn, synack], why)
            continue
        msg = (f"handshake {hostport(syn.ipsrc, syn.sport)} > {hostport(syn.ipdst, syn.dport)}: "
               f"SYN {syn.where}, SYN-ACK {synack.where}, ACK {ack.where}")
        return Outcome(True, msg, evidence_lines([syn, synack, ack], t0))
    return Outcome(False, best[2], evidence_lines(best[1], t0))


def check_tcp_close(engine: Engine, e: Expectation) -> Outcome:
    tc = e.tcp_close
    assert tc is not None
    res, t0 = engine.res, engine.t0
    a, b = (res.endpoint(x) for x in tc.between)
    keys = engine.scope(tc.capture)
    frames = _windowed(engine, e, engine.frames(keys))
    where = engine.describe_scope(keys)
    conns: dict[frozenset, dict[str, list[Frame]]] = {}
    for f in frames:
        if f.l4p != 6:
            continue
        if _at_port(a, f, True) and _at_port(b, f, False):
            side = "a"
        elif _at_port(b, f, True) and _at_port(a, f, False):
            side = "b"
        else:
            continue
        c = conns.setdefault(frozenset([(f.ipsrc, f.sport), (f.ipdst, f.dport)]), {"a": [], "b": [], "rst": [], "all": []})
        c["all"].append(f)
        if f.tflags & RST:
            c["rst"].append(f)
        elif f.tflags & FIN:
            c[side].append(f)
    an, bn = tc.between
    if not conns:
        return Outcome(False, f"no TCP packet between {an} and {bn} at all on {where}")
    resets = [f for c in conns.values() for f in c["rst"]]
    clean = [c for c in conns.values() if c["a"] and c["b"] and not c["rst"]]
    if resets:
        r = resets[0]
        who = an if a.has(r, True) else bn
        return Outcome(False, f"connection {_conn(r, a)} was reset: RST from {who} ({r.where}); a socket closed with "
                              "unread data, or a segment to a closed port, makes the kernel send RST",
                       evidence_lines(resets, t0))
    if clean:
        c = clean[0]
        return Outcome(True, f"connection {_conn(c['a'][0], a)} closed: FIN from {an} ({c['a'][0].where}), "
                             f"FIN from {bn} ({c['b'][0].where}), no RST",
                       evidence_lines([c["a"][0], c["b"][0]], t0))
    c = max(conns.values(), key=lambda c: (bool(c["a"]) + bool(c["b"]), len(c["all"])))
    name = _conn(c["all"][0], a)
    if c["a"]:
        msg = f"{an} closed connection {name} (FIN {c['a'][0].where}) but {bn} never sent its FIN"
    elif c["b"]:
        msg = f"{bn} closed connection {name} (FIN {c['b'][0].where}) but {an} never sent its FIN"
    else:
        msg = f"connection {name} was never closed: no FIN from either side ({_plural(len(c['all']), 'segment')} seen)"
    return Outcome(False, msg, evidence_lines(c["a"] + c["b"] or c["all"][-3:], t0))


def _conn(f: Frame, first: Ends | None = None) -> str:
    """The connection of f, written from `first`'s side when given."""
    ends = [hostport(f.ipsrc, f.sport), hostport(f.ipdst, f.dport)]
    if first is not None and not _at_port(first, f, True):
        ends.reverse()
    return " <> ".join(ends)


# ---------------------------------------------------------------------------------------------
# Request / reply


_ICMP_ERRORS = {1: (3, 4, 5, 11, 12), 58: (1, 2, 3, 4)}
MAX_REQUESTS = 100
MAX_CANDIDATES = 200


def _icmp_error(f: Frame) -> bool:
    return f.l4p in _ICMP_ERRORS and f.data[f.l4] in _ICMP_ERRORS[f.l4p]


def _could_answer(req: Frame, c: Frame, key: bytes) -> bool:
    """Cheap necessary conditions for c to answer req, before asking scapy."""
    if c is req or dedup_key(c) == key:
        return False
    if req.ipv:
        if c.ipv != req.ipv or c.ipdst != req.ipsrc:
            return False
        if _icmp_error(c):
            return True
        if c.proto != req.proto:
            return False
        return req.sport is None or (c.sport == req.dport and c.dport == req.sport)
    if req.is_arp():
        return c.is_arp() and c.ipsrc == req.ipdst and c.u16(c.l3 + 6) == 2
    return c.etype == req.etype and c.esrc != req.esrc


def check_request_reply(engine: Engine, e: Expectation) -> Outcome:
    rr = e.request_reply
    assert rr is not None
    res, t0 = engine.res, engine.t0
    win = engine.window(e)
    req_m = compile_packet(rr.request, res, extra=[win] if win else [])
    rkeys = engine.scope(rr.request.capture)
    rframes = engine.frames(rkeys)
    reqs = req_m.select(rframes)
    if len(rkeys) > 1:
        reqs, _ = engine.distinct(reqs)
    if not reqs:
        msg, diff = _absence(engine, req_m, rframes, rkeys, what="request")
        return Outcome(False, f"no request: {msg}", [], diff)
    rep_m = compile_packet(rr.reply, res) if rr.reply is not None else None
    pkeys = engine.scope(rr.reply.capture if rr.reply is not None else None, default=rkeys)
    pframes = engine.frames(pkeys)
    times = [f.ts for f in pframes]
    cache: dict[int, object] = {}

    def pkt(f: Frame):
        if id(f) not in cache:
            cache[id(f)] = dissect(f)
        return cache[id(f)]

    answered: list[tuple[Frame, Frame]] = []
    unanswered: list[tuple[Frame, Frame | None, Frame | None]] = []  # (request, ICMP error, mismatching answer)
    for req in reqs[:MAX_REQUESTS]:
        key = dedup_key(req)
        err = wrong = good = None
        tried = 0
        for c in pframes[bisect_left(times, req.ts) :]:
            if not _could_answer(req, c, key):
                continue
            tried += 1
            if tried > MAX_CANDIDATES:
                break
            try:
                ok = bool(pkt(c).answers(pkt(req)))
            except Exception:
                ok = False
            if not ok:
                continue
            if rep_m is not None:
                if rep_m.match(c):
                    good = c
                    break
                wrong = wrong or c
            elif _icmp_error(c):
                err = err or c
            else:
                good = c
                break
        if good is not None:
            answered.append((req, good))
            if not rr.all:
                break
        else:
            unanswered.append((req, err, wrong))
            if rr.all:
                break  # one unanswered request decides; its explanation follows
    checked = reqs[:MAX_REQUESTS]
    if answered and (not rr.all or not unanswered):
        q, r = answered[0]
        n = f"all {len(answered)} requests" if rr.all else f"request {q.where}"
        extra = f" (checked the first {MAX_REQUESTS})" if rr.all and len(reqs) > MAX_REQUESTS else ""
        return Outcome(True, f"{n} answered{extra}; first reply {r.where}",
                       [evidence_line(q, t0, " (request)"), evidence_line(r, t0, " (reply)")])
    req, err, wrong = unanswered[0]
    ev = [evidence_line(req, t0, " (request)")]
    lead = f"{len(answered)} of {len(checked)} requests answered; " if rr.all and answered else ""
    if wrong is not None and rep_m is not None:
        ev.append(evidence_line(wrong, t0, " (answer)"))
        return Outcome(False, f"{lead}request {req.where} was answered by {wrong.where}, but the reply differs: "
                              f"{rep_m.explain(wrong)}", ev, diff_text(rep_m, wrong, t0, title="answer"))
    if err is not None:
        ev.append(evidence_line(err, t0, " (ICMP error)"))
        hint = ""
        if req.l4p in (6, 17) and err.data[err.l4] in (3, 1) and err.data[err.l4 + 1] in (3, 4):
            hint = f"; is anything listening on {'UDP' if req.l4p == 17 else 'TCP'} port {req.dport}?"
        return Outcome(False, f"{lead}request {req.where} got only an ICMP error back: {summary(err)}{hint}", ev)
    msg = f"{lead}request {req.where} ({summary(req)}) got no reply"
    diff = None
    if rep_m is not None:
        later = [f for f in pframes[bisect_left(times, req.ts) :] if f is not req]
        near = rep_m.nearest(later)
        if near is not None:
            msg += f"; nearest to the expected reply is {near.where}: {rep_m.explain(near)}"
            diff = diff_text(rep_m, near, t0, title="nearest to the expected reply")
    elif req.ipv and not any(f.ipsrc == req.ipdst for f in pframes if f.ts >= req.ts):
        msg += f"; {ip_text(req.ipdst)} sent nothing at all afterwards"
    return Outcome(False, msg, ev, diff)


# ---------------------------------------------------------------------------------------------
# Only


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
    if want.regex is not None and not re.search(want.regex, got, re.MULTILINE):
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
