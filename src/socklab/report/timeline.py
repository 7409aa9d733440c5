"""The run's timeline as SVG: one bar per scenario step (start, ready, exit or timeout), the
packets of each capture as ticks, and injected faults, all on one time axis."""

from __future__ import annotations

from html import escape
from typing import Any

LABEL_W, PLOT_W, ROW_H, AXIS_H = 210.0, 640.0, 26.0, 26.0
BINS = 320


def _status(step: dict[str, Any]) -> tuple[str, str]:
    """(css class, words at the bar's end) of a step."""
    if step.get("timed_out"):
        return "bad", "timed out"
    if step.get("problem"):
        code = step.get("exit_code")
        return "bad", f"exit {code}" if code is not None else "failed"
    if step.get("killed"):
        return "ok", "stopped at the end"
    return "ok", f"exit {step.get('exit_code')}"


def timeline_svg(steps: list[dict[str, Any]], packets: dict[str, list[float]], faults: list[dict[str, Any]],
                 t0: float, t1: float, changes: list[dict[str, Any]] | None = None) -> str:
    """steps as in results.json; packets: capture point -> packet timestamps; faults and
    changes (a link set down, up, impaired at run time): results.json's records; times in epoch seconds."""
    changes = [c for c in (changes or []) if isinstance(c.get("time"), int | float)]
    span = max(t1 - t0, 1e-3)

    def x(t: float) -> float:
        return LABEL_W + PLOT_W * min(max((t - t0) / span, 0.0), 1.0)

    rows = len(steps) + len(packets) + (1 if faults else 0) + (1 if changes else 0)
    height = AXIS_H + ROW_H * rows + 8
    width = LABEL_W + PLOT_W + 120
    out = [f'<svg class="timeline" width="{width:g}" height="{height:g}" viewBox="0 0 {width:g} {height:g}">']
    for k in range(6):
        t = span * k / 5
        tx = LABEL_W + PLOT_W * k / 5
        out.append(f'<line class="grid" x1="{tx:g}" y1="{AXIS_H - 6:g}" x2="{tx:g}" y2="{height - 4:g}"/>'
                   f'<text class="axis" x="{tx:g}" y="{AXIS_H - 10:g}" text-anchor="middle">{_secs(t)}</text>')
    y = AXIS_H
    for step in steps:
        cls, words = _status(step)
        start, end = float(step.get("started") or t0), float(step.get("ended") or t1)
        bg = " bg" if step.get("background") else ""
        xs, xe = x(start), max(x(end), x(start) + 2)
        out.append(f'<g class="step {cls}{bg}" data-step="{escape(str(step.get("id")))}">'
                   f'<title>{escape(str(step.get("command", "")))}: {words}'
                   f'{" — " + escape(str(step["problem"])) if step.get("problem") else ""}</title>'
                   f'<text x="6" y="{y + 17:g}">{escape(str(step.get("id")))} @ {escape(str(step.get("node")))}</text>'
                   f'<rect x="{xs:.1f}" y="{y + 5:g}" width="{xe - xs:.1f}" height="{ROW_H - 10:g}" rx="3"/>'
                   f'<circle class="start" cx="{xs:.1f}" cy="{y + ROW_H / 2:g}" r="3.5"/>')
        if step.get("ready_at"):
            rx = x(float(step["ready_at"]))
            out.append(f'<path class="ready" d="M{rx:.1f},{y + 6:g} l5,7 l-5,7 l-5,-7 z"><title>ready at '
                       f'{_secs(float(step["ready_at"]) - t0)}</title></path>')
        out.append(f'<text class="end" x="{xe + 6:.1f}" y="{y + 17:g}">{escape(words)}</text></g>')
        y += ROW_H
    for point, stamps in packets.items():
        out.append(f'<g class="packets" data-point="{escape(point)}"><text x="6" y="{y + 17:g}">packets on {escape(point)}</text>')
        out.append(_ticks(stamps, t0, span, y))
        out.append(f'<text class="end" x="{LABEL_W + PLOT_W + 6:g}" y="{y + 17:g}">{len(stamps):,}</text></g>')
        y += ROW_H
    if faults:
        out.append(f'<g class="faults"><text x="6" y="{y + 17:g}">injected faults</text>')
        for fault in faults[:2000]:
            fx = x(float(fault.get("time", t0)))
            what = fault.get("action") or fault.get("impairment") or "fault"
            out.append(f'<line class="fault" x1="{fx:.1f}" y1="{y + 4:g}" x2="{fx:.1f}" y2="{y + ROW_H - 4:g}">'
                       f'<title>{escape(str(what))}: {escape(str(fault.get("summary", "")))}</title></line>')
        out.append(f'<text class="end" x="{LABEL_W + PLOT_W + 6:g}" y="{y + 17:g}">{len(faults):,}</text></g>')
        y += ROW_H
    if changes:
        out.append(f'<g class="changes"><text x="6" y="{y + 17:g}">link changes</text>')
        for c in changes[:500]:
            cx = x(float(c["time"]))
            what = f"link {c.get('link')} {c.get('change')}" + (f" {c['impair']}" if c.get("impair") else "")
            out.append(f'<path class="change" d="M{cx:.1f},{y + 5:g} l5,8 l-5,8 l-5,-8 z"><title>{escape(what)}</title></path>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _ticks(stamps: list[float], t0: float, span: float, y: float) -> str:
    """A tick per packet when few, else a histogram of BINS bars (heights scaled to the busiest)."""
    if len(stamps) <= BINS:
        return "".join(f'<line class="tick" x1="{LABEL_W + PLOT_W * min(max((t - t0) / span, 0), 1):.1f}" '
                       f'y1="{y + 6:g}" x2="{LABEL_W + PLOT_W * min(max((t - t0) / span, 0), 1):.1f}" '
                       f'y2="{y + ROW_H - 6:g}"/>' for t in stamps)
    counts = [0] * BINS
    for t in stamps:
        counts[min(BINS - 1, max(0, int((t - t0) / span * BINS)))] += 1
    top = max(counts)
    bw = PLOT_W / BINS
    bars = []
    for i, c in enumerate(counts):
        if c:
            h = max(1.0, (ROW_H - 8) * c / top)
            bars.append(f'<rect class="hist" x="{LABEL_W + i * bw:.1f}" y="{y + ROW_H - 4 - h:.1f}" '
                        f'width="{bw:.2f}" height="{h:.1f}"/>')
    return "".join(bars)


def _secs(t: float) -> str:
    if t < 1:
        return f"{t * 1000:.0f} ms" if t >= 0.01 or t == 0 else f"{t * 1000:.1f} ms"
    return f"{t:.2f} s"
