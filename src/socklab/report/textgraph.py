"""A lab's topology as text for other tools: Graphviz dot and Mermaid (GitHub renders Mermaid)."""

from __future__ import annotations

from socklab.model.lab import Lab
from socklab.report.layout import impairment_lines, link_label, node_lines

_DOT_SHAPES = {"host": 'shape=box, style="rounded,filled", fillcolor="#ddf4ff"',
               "router": 'shape=octagon, style=filled, fillcolor="#fff1e5"',
               "switch": 'shape=box, peripheries=2, style=filled, fillcolor="#dafbe1"'}
_MERMAID_SHAPES = {"host": ("(", ")"), "router": ("{{", "}}"), "switch": ("[[", "]]")}


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(lab: Lab) -> str:
    """Graphviz dot (undirected graph, left to right); labels carry interfaces, addresses, subnets."""
    out = [f"graph {_dot_str(lab.name)} {{", "  graph [rankdir=LR];",
           '  node [fontname="monospace", fontsize=11];', '  edge [fontname="monospace", fontsize=10];']
    for node in lab.nodes:
        label = "\\n".join(t.replace("\\", "\\\\").replace('"', '\\"') for t in node_lines(node, lab))
        out.append(f'  {_dot_str(node.name)} [{_DOT_SHAPES[node.kind]}, label="{label}"];')
    for link in lab.links:
        words = [*link_label(lab, link), *impairment_lines(lab, link)]
        attrs = [f"taillabel={_dot_str(link.a.iface)}", f"headlabel={_dot_str(link.b.iface)}"]
        if words:
            attrs.insert(0, f"label={_dot_str(chr(10).join(words))}".replace("\n", "\\n"))
        out.append(f"  {_dot_str(link.a.node)} -- {_dot_str(link.b.node)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(lab: Lab) -> str:
    """Mermaid flowchart: hosts rounded, routers hexagons, switches double-edged boxes."""
    ids = {n.name: f"n{i}" for i, n in enumerate(lab.nodes)}
    out = ["flowchart LR"]
    for node in lab.nodes:
        left, right = _MERMAID_SHAPES[node.kind]
        label = "<br/>".join(_mermaid_text(t) for t in node_lines(node, lab))
        out.append(f'  {ids[node.name]}{left}"{label}"{right}')
    for link in lab.links:
        words = [f"{link.a.iface} — {link.b.iface}", *link_label(lab, link), *impairment_lines(lab, link)]
        label = "<br/>".join(_mermaid_text(w) for w in words)
        out.append(f'  {ids[link.a.node]} ---|"{label}"| {ids[link.b.node]}')
    for kind in ("host", "router", "switch"):
        members = [ids[n.name] for n in lab.nodes if n.kind == kind]
        if members:
            out.append(f"  class {','.join(members)} {kind}")
    out += ["  classDef host fill:#ddf4ff,stroke:#0969da", "  classDef router fill:#fff1e5,stroke:#bc4c00",
            "  classDef switch fill:#dafbe1,stroke:#1a7f37"]
    return "\n".join(out) + "\n"
