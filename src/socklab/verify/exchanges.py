"""The exchange checks: a TCP handshake, a TCP close, a request and its reply.

Each pairs packets with the matcher of match.py and the logic its protocol needs (sequence
and acknowledgment numbers, ICMP errors that answer a request), and says what was expected
and what was seen instead.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from socklab.model.plain import Expectation, PacketMatch, TcpMatch
from socklab.verify.checks import (
    ACK,
    FIN,
    RST,
    SYN,
    Outcome,
    _absence,
    _after,
    _plural,
    _windowed,
)
from socklab.verify.endpoints import Ends
from socklab.verify.frames import Frame, dedup_key, hostport, ip_text, summary
from socklab.verify.match import compile_packet
from socklab.verify.render import diff_text, dissect, evidence_line, evidence_lines

if TYPE_CHECKING:
    from socklab.verify.engine import Engine


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
        syn_m = compile_packet(PacketMatch(from_=h.client, to=h.server, tcp=TcpMatch(flags="S")), res)
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
    late: list[Frame] = []  # resets after a completed close: answers to stray segments
    for c in conns.values():
        done = _close_completed(c)
        if done is not None:
            late += [r for r in c["rst"] if _after(r, done)]
            c["rst"] = [r for r in c["rst"] if not _after(r, done)]
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
        msg = (f"connection {_conn(c['a'][0], a)} closed: FIN from {an} ({c['a'][0].where}), "
               f"FIN from {bn} ({c['b'][0].where}), ")
        msg += (f"both acknowledged; the RST {late[0].where} came after the close and answers a late segment "
                "(a reordered or repeated ACK), not the program" if late else "no RST")
        return Outcome(True, msg, evidence_lines([c["a"][0], c["b"][0], *late[:1]], t0))
    c = max(conns.values(), key=lambda c: (bool(c["a"]) + bool(c["b"]), len(c["all"])))
    name = _conn(c["all"][0], a)
    if c["a"]:
        msg = f"{an} closed connection {name} (FIN {c['a'][0].where}) but {bn} never sent its FIN"
    elif c["b"]:
        msg = f"{bn} closed connection {name} (FIN {c['b'][0].where}) but {an} never sent its FIN"
    else:
        msg = f"connection {name} was never closed: no FIN from either side ({_plural(len(c['all']), 'segment')} seen)"
    return Outcome(False, msg, evidence_lines(c["a"] + c["b"] or c["all"][-3:], t0))


def _close_completed(c: dict[str, list[Frame]]) -> Frame | None:
    """The segment that acknowledged the second of the two FINs, or None while the close is not done.

    After it, both sockets are gone or in TIME_WAIT: a RST then answers a segment that came
    late to a closed socket (on veth, segments sent from two CPUs can swap places), not
    anything the programs did; a reset they cause (unread data, SO_LINGER 0) replaces a FIN.
    """
    if not (c["a"] and c["b"]):
        return None
    acks = []
    for fins, other in ((c["a"], c["b"]), (c["b"], c["a"])):
        fin = fins[0]
        end = (_seq(fin) + fin.pe - fin.pl + 1) & 0xFFFFFFFF
        peer = {(f.ipsrc, f.sport) for f in other}
        ack = next((f for f in c["all"] if (f.ipsrc, f.sport) in peer and f.tflags & ACK and not f.tflags & RST
                    and (_ack(f) - end) & 0xFFFFFFFF < 1 << 31 and _after(f, fin)), None)
        if ack is None:
            return None
        acks.append(ack)
    first, second = acks
    return second if _after(second, first) else first


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
