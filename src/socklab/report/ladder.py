"""Packet ladder (sequence) diagrams: node lifelines, one arrow per packet, paged SVG.

Long conversations are summarised: the first HEAD and last TAIL packets are drawn, plus
every packet an expectation points at, and a gap row says how many were left out (the
pcap holds them all). Pages of PAGE_ROWS rows keep the browser quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from socklab.report.conversations import (
    Conversation,
    TcpNumbers,
    conversation_key_of_summary,
    describe,
)
from socklab.verify.frames import summary

PAGE_ROWS = 100
HEAD = 300
TAIL = 100
LEFT, COL, RIGHT, TOP, ROW = 96.0, 340.0, 84.0, 46.0, 36.0


def anchor(point: str, no: int) -> str:
    """The HTML id of packet #no of capture point "node:iface" (evidence links point here)."""
    return f"pkt-{point.replace(':', '-')}-{no}"


@dataclass(frozen=True)
class Row:
    """One line of a ladder: a packet (index into the conversation), a gap, or an injected fault."""

    kind: str  # packet | gap | fault
    ts: float = 0.0
    index: int = -1
    skipped: int = 0
    first: int = 0
    last: int = 0
    fault: dict[str, Any] | None = None


def select(conv: Conversation, referenced: set[int], head: int = HEAD, tail: int = TAIL) -> list[int]:
    """Indexes of the frames to draw: all of them when few, else head, tail and referenced ones."""
    n = len(conv.frames)
    if n <= head + tail:
        return list(range(n))
    keep = set(range(head)) | set(range(n - tail, n))
    keep |= {i for i, f in enumerate(conv.frames) if f.no in referenced}
    return sorted(keep)


def rows(conv: Conversation, drawn: list[int], faults: list[dict[str, Any]]) -> list[Row]:
    """Drawn packets in capture order with gap rows between runs, and faults placed by time."""
    out: list[Row] = []
    prev = -1
    for i in drawn:
        if i != prev + 1:
            out.append(Row("gap", conv.frames[prev + 1].ts, skipped=i - prev - 1,
                           first=conv.frames[prev + 1].no, last=conv.frames[i - 1].no))
        out.append(Row("packet", conv.frames[i].ts, index=i))
        prev = i
    if prev != len(conv.frames) - 1:
        rest = conv.frames[prev + 1 :]
        out.append(Row("gap", rest[0].ts, skipped=len(rest), first=rest[0].no, last=rest[-1].no))
    if faults:
        merged = out + [Row("fault", float(f.get("time", 0.0)), fault=f) for f in faults]
        merged.sort(key=lambda r: (r.ts, r.kind == "fault"))
        return merged
    return out


def faults_for(conv: Conversation, faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded faults whose packet summary belongs to this conversation."""
    if conv.kind not in ("TCP", "UDP", "ICMP", "ICMPv6"):
        return []
    keys = frozenset(k for k, _, _ in conv.lifelines)
    out = []
    for fault in faults:
        key = conversation_key_of_summary(str(fault.get("summary", "")))
        if key is not None and key[0] == conv.kind and key[1] <= keys:
            out.append(fault)
    return out


def ladder_html(conv: Conversation, drawn_rows: list[Row], t0: float, marked: set[int] | None = None) -> str:
    """The conversation as paged SVG ladders inside one <div class="ladder">."""
    marked = marked or set()
    numbers = TcpNumbers()
    for i in range(len(conv.frames)):  # relative numbers need every earlier frame, drawn or not
        if conv.frames[i].l4p == 6:
            numbers.relative(conv, i)
            if len(numbers.base) >= 2:
                break
    pages = [drawn_rows[i : i + PAGE_ROWS] for i in range(0, len(drawn_rows), PAGE_ROWS)] or [[]]
    width = LEFT + COL * max(1, len(conv.lifelines) - 1) + RIGHT
    parts = [f'<div class="ladder" data-point="{escape(conv.point)}" data-pages="{len(pages)}">']
    for p, page in enumerate(pages):
        hidden = " hidden" if p else ""
        parts.append(f'<div class="page" data-page="{p}"{hidden}>')
        parts.append(_page_svg(conv, page, t0, width, numbers, marked))
        parts.append("</div>")
    if len(pages) > 1:
        parts.append('<nav class="pager"><button type="button" data-step="-1">◀ earlier</button>'
                     f'<span class="where">page 1 of {len(pages)}</span>'
                     '<button type="button" data-step="1">later ▶</button></nav>')
    parts.append("</div>")
    return "".join(parts)


def _x(lifeline: int) -> float:
    return LEFT + COL * lifeline


def _page_svg(conv: Conversation, page: list[Row], t0: float, width: float, numbers: TcpNumbers,
              marked: set[int]) -> str:
    height = TOP + ROW * len(page) + 12
    out = [f'<svg class="ladder-svg" width="{width:g}" height="{height:g}" viewBox="0 0 {width:g} {height:g}">',
           '<text class="t" x="8" y="16">time (s)</text>']
    for k, (_, name, addr) in enumerate(conv.lifelines):
        x = _x(k)
        out.append(f'<text class="ll-name" x="{x:g}" y="16" text-anchor="middle">{escape(name)}</text>')
        if addr != name:
            out.append(f'<text class="ll-addr" x="{x:g}" y="31" text-anchor="middle">{escape(addr)}</text>')
        out.append(f'<line class="lifeline" x1="{x:g}" y1="38" x2="{x:g}" y2="{height - 4:g}"/>')
    y = TOP
    for row in page:
        y += ROW
        if row.kind == "packet":
            out.append(_packet(conv, row.index, y, t0, width, numbers, row.index in marked))
        elif row.kind == "gap":
            out.append(f'<g class="gap"><text x="{width / 2:g}" y="{y - 12:g}" text-anchor="middle">'
                       f'⋯ {row.skipped:,} packets not drawn (#{row.first}–#{row.last}): the pcap has them all</text></g>')
        else:
            out.append(_fault(conv, row, y, t0))
    out.append("</svg>")
    return "".join(out)


def _packet(conv: Conversation, i: int, y: float, t0: float, width: float, numbers: TcpNumbers, marked: bool) -> str:
    f = conv.frames[i]
    s, d = conv.src[i], conv.dst[i]
    label, shown = describe(conv, i, numbers)
    x1, x2 = _x(s), _x(d)
    cls = "pkt" + (" mark" if marked else "") + (" rst" if f.l4p == 6 and f.tflags and f.tflags & 4 else "")
    head = (f'<g class="{cls}" id="{anchor(conv.point, f.no)}" data-no="{f.no}" data-capture="{escape(conv.point)}">'
            f"<title>#{f.no} {escape(summary(f))}</title>"
            f'<text class="t" x="8" y="{y - 4:g}">{f.ts - t0:.6f}</text>'
            f'<text class="n" x="{width - 8:g}" y="{y - 4:g}" text-anchor="end">#{f.no} · {f.wirelen} B</text>')
    if s == d:
        path = f"M{x1:g},{y - 10:g} h40 v14 h-36"
        arrow = f'<path class="arrow" d="{path}" marker-end="url(#ah)"/>'
        mid = x1 + 48
        anchor_ = "start"
    else:
        end = x2 - 4 if x2 > x1 else x2 + 4
        arrow = f'<line class="arrow" x1="{x1:g}" y1="{y:g}" x2="{end:g}" y2="{y:g}" marker-end="url(#ah)"/>'
        mid = (x1 + x2) / 2
        anchor_ = "middle"
    text = f'<text class="lbl" x="{mid:g}" y="{y - 5:g}" text-anchor="{anchor_}">{escape(label)}</text>'
    if shown:
        text += f'<text class="pv" x="{mid:g}" y="{y + 12:g}" text-anchor="{anchor_}">{escape(shown)}</text>'
    return head + arrow + text + "</g>"


def _fault(conv: Conversation, row: Row, y: float, t0: float) -> str:
    fault = row.fault or {}
    text = str(fault.get("summary", ""))
    parts = text.split()
    src = next((k for k, (key, _, _) in enumerate(conv.lifelines) if len(parts) > 1 and key == parts[1]), 0)
    dst = next((k for k, (key, _, _) in enumerate(conv.lifelines) if len(parts) > 3 and key == parts[3]), src)
    x1, x2 = _x(src), _x(dst)
    mid = (x1 + x2) / 2 if src != dst else x1 + 40
    what = fault.get("action") or fault.get("impairment") or "fault"
    nth = f" (nth {fault['nth']})" if fault.get("nth") is not None else ""
    return (f'<g class="fault" data-action="{escape(str(what))}"><title>{escape(text)}</title>'
            f'<text class="t" x="8" y="{y - 4:g}">{row.ts - t0:.6f}</text>'
            f'<line class="farrow" x1="{x1:g}" y1="{y:g}" x2="{mid:g}" y2="{y:g}"/>'
            f'<text class="fx" x="{mid:g}" y="{y + 5:g}" text-anchor="middle">✗</text>'
            f'<text class="flbl" x="{mid:g}" y="{y - 6:g}" text-anchor="middle">injected: {escape(str(what))}{nth}</text></g>')
