"""A lab's topology as SVG: hosts as rounded boxes, routers as octagons, switches as double boxes.

The SVG carries its own style (fonts, colours), so it looks the same as a README image,
a file opened in a browser, or inlined in report.html.
"""

from __future__ import annotations

from html import escape

from socklab.model.lab import Lab
from socklab.report.layout import CHAR_W, LABEL_LINE, LINE_H, PAD, Box, Edge, Layout, layout

STYLE = (
    "text{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px;fill:#1f2328}"
    ".t{font-size:13px;font-weight:bold}.k{fill:#57606a;font-style:italic}"
    ".host>.s{fill:#ddf4ff;stroke:#0969da}.router>.s{fill:#fff1e5;stroke:#bc4c00}"
    ".switch>.s{fill:#dafbe1;stroke:#1a7f37}.s{stroke-width:1.5}"
    ".link line{stroke:#57606a;stroke-width:2}.ifn{font-size:10px;fill:#57606a}"
    ".ll{font-size:11px;fill:#0550ae}.imp{fill:#cf222e}"
    ".lbg{fill:#ffffff;opacity:.85}"
)


def topology_svg(lab: Lab, drawn: Layout | None = None, captured: frozenset[str] = frozenset()) -> str:
    """The lab's drawing as one standalone SVG document (deterministic: same lab, same bytes).

    captured: "node:iface" points marked with a dot where their link leaves the node (the
    report marks where its pcaps were taken).
    """
    drawn = drawn or layout(lab)
    w, h = drawn.width, drawn.height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="topology" width="{w:g}" height="{h:g}" '
        f'viewBox="0 0 {w:g} {h:g}" role="img" aria-label="topology of lab {escape(lab.name)}">',
        f"<title>lab {escape(lab.name)}</title>",
        f"<style>{STYLE}</style>",
        f'<rect width="{w:g}" height="{h:g}" fill="#ffffff"/>',
    ]
    out += [_edge(e) for e in drawn.edges]
    out += [_node(b) for b in drawn.boxes.values()]
    out += [_edge_labels(e) for e in drawn.edges if e.label or e.impair]
    for e in drawn.edges:
        for end, x, y in ((e.a, e.x1, e.y1), (e.b, e.x2, e.y2)):
            if str(end) in captured:
                out.append(f'<circle class="cap" cx="{x:g}" cy="{y:g}" r="5" fill="#bf8700" stroke="#ffffff" '
                           f'stroke-width="1.5"><title>captured: {escape(str(end))}</title></circle>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _shape(b: Box) -> str:
    if b.kind == "router":
        c = 10.0
        x0, y0, x1, y1 = b.x, b.y, b.x + b.w, b.y + b.h
        pts = [(x0 + c, y0), (x1 - c, y0), (x1, y0 + c), (x1, y1 - c), (x1 - c, y1), (x0 + c, y1), (x0, y1 - c), (x0, y0 + c)]
        return '<polygon class="s" points="' + " ".join(f"{x:g},{y:g}" for x, y in pts) + '"/>'
    if b.kind == "switch":
        return (f'<rect class="s" x="{b.x:g}" y="{b.y:g}" width="{b.w:g}" height="{b.h:g}"/>'
                f'<rect x="{b.x + 3:g}" y="{b.y + 3:g}" width="{b.w - 6:g}" height="{b.h - 6:g}" '
                'fill="none" stroke="#1a7f37" stroke-width="1"/>')
    return f'<rect class="s" x="{b.x:g}" y="{b.y:g}" width="{b.w:g}" height="{b.h:g}" rx="9"/>'


def _node(b: Box) -> str:
    inset = PAD + (6 if b.kind == "router" else 0)
    parts = [f'<g class="node {b.kind}" id="node-{escape(b.name)}" data-node="{escape(b.name)}">', _shape(b)]
    for i, line in enumerate(b.lines):
        cls = ' class="t"' if i == 0 else (' class="k"' if i == 1 else "")
        y = b.y + PAD + 11 + i * LINE_H
        parts.append(f'<text x="{b.x + inset:g}" y="{y:g}"{cls} xml:space="preserve">{escape(line)}</text>')
    parts.append("</g>")
    return "".join(parts)


def _edge(e: Edge) -> str:
    dx, dy = e.x2 - e.x1, e.y2 - e.y1
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / norm, dy / norm
    ends = []
    for end, (x, y), sign in ((e.a, (e.x1, e.y1), 1), (e.b, (e.x2, e.y2), -1)):
        iface = end.iface
        # beside the line, on the side away from the box it leaves (text grows up from its baseline)
        tx, ty = x + sign * ux * 9, y + sign * uy * 9 + (11 if sign * uy > 0.2 else -4)
        anchor = "start" if sign * ux >= 0 else "end"
        ends.append(f'<text class="ifn" x="{tx:g}" y="{ty:g}" text-anchor="{anchor}">{escape(iface)}</text>')
    return (f'<g class="link" data-link="{e.index}" data-a="{escape(str(e.a))}" data-b="{escape(str(e.b))}">'
            f'<line x1="{e.x1:g}" y1="{e.y1:g}" x2="{e.x2:g}" y2="{e.y2:g}"/>{"".join(ends)}</g>')


def _edge_labels(e: Edge) -> str:
    mx, my = (e.x1 + e.x2) / 2, (e.y1 + e.y2) / 2
    lines = [("ll", t) for t in e.label] + [("ll imp", t) for t in e.impair]
    width = max(len(t) for _, t in lines) * CHAR_W * 11 / 12 + 8
    height = len(lines) * LABEL_LINE + 4
    top = my + 6
    parts = [f'<g class="linklabel" data-link="{e.index}">',
             f'<rect class="lbg" x="{mx - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height}" rx="3"/>']
    for i, (cls, text) in enumerate(lines):
        parts.append(f'<text class="{cls}" x="{mx:.1f}" y="{top + LABEL_LINE + i * LABEL_LINE:.1f}" text-anchor="middle">{escape(text)}</text>')
    parts.append("</g>")
    return "".join(parts)
