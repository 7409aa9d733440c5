"""TCP byte streams: the segments of one connection and direction, reassembled by sequence number.

A program may write its message in one send() or ten; the kernel may split, coalesce or
resend segments. What the peer's application reads is the byte stream, so stream checks
look at that: segments are placed by sequence number relative to the SYN's ISN (or, when
the capture starts mid-connection, to the lowest sequence number seen), duplicates and
overlaps are laid over bytes already placed, and out-of-order segments fall into place.
Retransmission counting uses the same bookkeeping.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from socklab.verify.endpoints import Ends
from socklab.verify.frames import Frame, hostport

FIN, SYN, RST = 0x01, 0x02, 0x04
_u32 = 1 << 32


def _signed(d: int) -> int:
    """A sequence-number difference modulo 2**32 as a signed offset (RFC 1982 style)."""
    d %= _u32
    return d - _u32 if d >= 1 << 31 else d


def tcp_length(f: Frame) -> int:
    """The TCP payload length the IP header declares (more than captured when the snap length cut it)."""
    d, l3 = f.data, f.l3
    if f.ipv == 4:
        end = l3 + ((d[l3 + 2] << 8) | d[l3 + 3])
    elif f.ipv == 6:
        end = l3 + 40 + ((d[l3 + 4] << 8) | d[l3 + 5])
    else:
        end = f.pe
    return max(0, end - f.pl) if end >= f.pe else f.pe - f.pl


@dataclass
class Segment:
    """One captured segment's place in its stream: [start, start + length) relative to the stream's origin."""

    frame: Frame
    start: int
    data: bytes  # the captured bytes (fewer than length when the capture cut the frame short)
    length: int


@dataclass
class Stream:
    """One direction of one TCP connection: src sent, dst received.

    data: the bytes from the stream's start up to the first hole; holes: (start, end) byte
    ranges never captured; syn: the SYN when seen (else the capture started mid-connection
    and offset 0 is the lowest sequence number captured); frames: every segment of this
    direction in capture order.
    """

    src: tuple[bytes, int]
    dst: tuple[bytes, int]
    frames: list[Frame] = field(default_factory=list)
    syn: Frame | None = None
    isn: int | None = None
    data: bytes = b""
    total: int = 0  # bytes covered including those after a hole
    holes: list[tuple[int, int]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    fin: Frame | None = None
    rst: Frame | None = None

    @property
    def name(self) -> str:
        return f"{hostport(*self.src)} > {hostport(*self.dst)}"

    @property
    def data_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.length]

    def notes(self) -> list[str]:
        out = []
        if self.syn is None:
            out.append("the capture starts mid-connection (no SYN seen): byte 0 is the first byte captured")
        for a, b in self.holes[:3]:
            out.append(f"bytes {a}..{b - 1} were never captured (a segment missing from the capture)")
        if len(self.holes) > 3:
            out.append(f"... and {len(self.holes) - 3} more holes")
        return out


def _connections(frames: Iterable[Frame], src: Ends, dst: Ends) -> list[Stream]:
    """Group the TCP segments from src to dst by 4-tuple; a SYN with a new ISN starts a new connection."""
    current: dict[tuple, Stream] = {}
    out: list[Stream] = []
    for f in frames:
        if f.l4p != 6 or not src.at(f, True) or not dst.at(f, False):
            continue
        key = (f.ipsrc, f.sport, f.ipdst, f.dport)
        s = current.get(key)
        if f.tflags & SYN:
            seq = f.seq_ack()[0]
            if s is None or s.isn != seq:
                s = None  # a new connection on the same ports (or the first SYN after mid-connection traffic)
            if s is None:
                s = Stream((f.ipsrc, f.sport), (f.ipdst, f.dport), syn=f, isn=seq)
                current[key] = s
                out.append(s)
        elif s is None:
            s = Stream((f.ipsrc, f.sport), (f.ipdst, f.dport))
            current[key] = s
            out.append(s)
        s.frames.append(f)
    return out


def _place(s: Stream) -> None:
    """Work out each segment's offset and reassemble the bytes (earliest-starting segment wins overlaps)."""
    if s.isn is not None:
        origin = (s.isn + 1) % _u32
    else:
        firsts = [f.seq_ack()[0] for f in s.frames if f.pe > f.pl or f.tflags & FIN]
        if not firsts and s.frames:
            firsts = [s.frames[0].seq_ack()[0]]
        ref = firsts[0] if firsts else 0
        origin = (ref + min((_signed(x - ref) for x in firsts), default=0)) % _u32
    segs: list[Segment] = []
    for f in s.frames:
        seq = f.seq_ack()[0]
        if f.tflags & SYN:
            seq += 1
        if f.tflags & FIN and s.fin is None:
            s.fin = f
        if f.tflags & RST and s.rst is None:
            s.rst = f
        segs.append(Segment(f, _signed(seq - origin), f.data[f.pl : f.pe], tcp_length(f)))
    s.segments = segs
    placed = sorted((g for g in segs if g.length), key=lambda g: g.start)  # stable: capture order among equals
    buf = bytearray()
    have: list[tuple[int, int]] = []  # captured byte ranges
    end = 0
    for g in placed:
        a, data = g.start, g.data
        if a < 0:  # bytes before the stream's origin (before the SYN): not part of it
            data, a = data[-a:], 0
        end = max(end, g.start + g.length)
        if data:
            have.append((a, a + len(data)))
        if a <= len(buf) < a + len(data):
            buf += data[len(buf) - a :]
    covered = _merge(have)
    s.holes = [(x, y) for x, y in zip([0] + [b for _, b in covered], [a for a, _ in covered] + [end], strict=True) if y > x]
    s.data = bytes(buf)
    s.total = end


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def streams(frames: Iterable[Frame], src: Ends, dst: Ends) -> list[Stream]:
    """Every connection's stream from src to dst, in the order their first segment was captured.

    frames should be one capture's, or several captures' after removing repeats of one
    packet (repeats are harmless for the bytes, but count as retransmissions).
    """
    out = _connections(frames, src, dst)
    for s in out:
        _place(s)
    return out


def retransmitted(s: Stream) -> list[tuple[Segment, str]]:
    """The segments of s that resend sequence space already seen, with why ("resent", "fills a hole").

    A zero-length segment is never one (so neither are Linux's keep-alive and zero-window
    probes, empty at snd.una - 1). SYN and FIN occupy one sequence number each; a resent
    one-byte segment counts like any other.
    """
    covered: list[list[int]] = []  # merged [start, end) intervals, sorted
    highest = None
    out: list[tuple[Segment, str]] = []
    for g in s.segments:
        f = g.frame
        start = g.start - (1 if f.tflags & SYN else 0)
        size = g.length + (1 if f.tflags & SYN else 0) + (1 if f.tflags & FIN else 0)
        if size == 0:
            continue
        end = start + size
        i = bisect_right(covered, [start, 1 << 62])
        overlaps = (i > 0 and covered[i - 1][1] > start) or (i < len(covered) and covered[i][0] < end)
        if overlaps:
            out.append((g, "resent"))
        elif highest is not None and start < highest:
            out.append((g, "fills a hole"))
        _cover(covered, start, end)
        highest = end if highest is None else max(highest, end)
    return out


def _cover(covered: list[list[int]], a: int, b: int) -> None:
    i = bisect_right(covered, [a, 1 << 62])
    if i > 0 and covered[i - 1][1] >= a:
        i -= 1
        a = covered[i][0]
    j = i
    while j < len(covered) and covered[j][0] <= b:
        b = max(b, covered[j][1])
        j += 1
    covered[i:j] = [[a, b]]


def udp_repeats(frames: Iterable[Frame], src: Ends, dst: Ends) -> tuple[list[Frame], list[Frame]]:
    """UDP datagrams from src to dst, and those repeating an earlier datagram's payload (same ports)."""
    seen: set[tuple] = set()
    sent: list[Frame] = []
    again: list[Frame] = []
    for f in frames:
        if f.l4p != 17 or not src.at(f, True) or not dst.at(f, False):
            continue
        sent.append(f)
        key = (f.ipsrc, f.sport, f.ipdst, f.dport, f.data[f.pl : f.pe])
        if key in seen:
            again.append(f)
        else:
            seen.add(key)
    return sent, again
