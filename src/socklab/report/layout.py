"""Where each node of a lab goes in its drawing: a deterministic two-sided layered layout.

Why our own layout and not graphviz: graphviz is not in socklab's stack (a C tool to
install everywhere), its output changes between versions (the labs' committed drawings
must stay byte for byte in sync), and labs are mostly trees (chains, stars, a router
between two LANs), which a breadth-first layout draws well in linear time: a
1000-node lab takes milliseconds.

Each connected component is laid out from its centre (the middle of a longest shortest
path): the centre's neighbours go half to its left and half to its right in lab-file
order, and every node sits one column further out than its parent. Columns taller than
MAX_PER_COLUMN wrap outwards. Text sizes are estimated for a monospace font, so the same
lab gives the same picture everywhere.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass

from socklab.model.lab import IfaceRef, Lab, Link, Node

CHAR_W = 7.3  # px per character of the 12 px monospace font the drawing uses
TITLE_W = 8.2  # px per character of the 13 px bold title
LINE_H = 15.0
LABEL_LINE = 13.0  # px between the lines of a link's label
PAD = 8.0
GAP_Y = 26.0
GAP_COMPONENTS = 48.0
MIN_GAP_X = 110.0
MARGIN = 16.0
MAX_PER_COLUMN = 16
MAX_IFACE_LINES = 8


@dataclass(frozen=True)
class Box:
    """One node's box: its top-left corner, size and the text lines inside (title first)."""

    name: str
    kind: str
    lines: tuple[str, ...]
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True)
class Edge:
    """One link, clipped to its boxes' borders, with the words written along it."""

    index: int
    a: IfaceRef
    b: IfaceRef
    x1: float
    y1: float
    x2: float
    y2: float
    label: tuple[str, ...]  # subnets, mtu
    impair: tuple[str, ...] = ()  # impairments, one line per direction


@dataclass(frozen=True)
class Layout:
    name: str
    boxes: dict[str, Box]
    edges: tuple[Edge, ...]
    width: float
    height: float


def node_lines(node: Node, lab: Lab) -> list[str]:
    """The text of a node's box: name, kind, then interfaces with addresses (and a switch's LAN)."""
    lines = [node.name, node.kind]
    if node.kind == "switch":
        lines += [f"LAN {net}" for net in node.subnets]
        lines.append(f"{len(node.interfaces)} port{'s' * (len(node.interfaces) != 1)}")
        return lines
    body: list[str] = []
    for iface in node.interfaces:
        addrs = [str(a) for a in (*iface.ipv4, *iface.ipv6)]
        body.append(f"{iface.name} {addrs[0]}" if addrs else iface.name)
        body += [" " * (len(iface.name) + 1) + a for a in addrs[1:]]
    for route in node.routes:
        to = "default" if route.to.prefixlen == 0 else str(route.to)
        body.append(f"{to} via {route.via}")
    if len(body) > MAX_IFACE_LINES:
        body = body[: MAX_IFACE_LINES - 1] + [f"… {len(body) - MAX_IFACE_LINES + 1} more"]
    return lines + body


def link_label(lab: Lab, link: Link) -> tuple[str, ...]:
    """Subnets of a point-to-point link (a LAN's subnet is in its switch's box) and its MTU."""
    kinds = {lab.node(link.a.node).kind, lab.node(link.b.node).kind}
    out: list[str] = []
    if "switch" not in kinds:
        nets: list[str] = list(link.subnets)
        if not nets:
            iface = lab.node(link.a.node).interface(link.a.iface)
            seen: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
            for addr in (*iface.ipv4, *iface.ipv6):
                if addr.network not in seen and addr.network.prefixlen < addr.max_prefixlen:
                    seen.append(addr.network)
            nets = [str(n) for n in seen]
        out += nets
    if link.mtu:
        out.append(f"mtu {link.mtu}")
    return tuple(out)


def impairment_lines(lab: Lab, link: Link) -> list[str]:
    """The link's impairments (one line when both directions are alike, else one per direction,
    "client → delay 10ms" for frames leaving client), then its exact faults."""
    out: list[str] = []
    if link.impair is not None:
        a, b = link.impair.for_end(str(link.a)), link.impair.for_end(str(link.b))
        if a == b:
            out += [a.describe()] if a.active else []
        else:
            out += [f"{end.node} → {imp.describe()}" for end, imp in ((link.a, a), (link.b, b)) if imp.active]
    for fault in lab.faults:
        if fault.link == link.index:
            nth = ", ".join(f"#{n}" for n in fault.spec.nth)
            out.append(f"fault: {fault.spec.action} {nth} from {fault.on.split(':')[0]}")
    return out


def _box(node: Node, lab: Lab) -> tuple[tuple[str, ...], float, float]:
    lines = node_lines(node, lab)
    w = max([len(lines[0]) * TITLE_W] + [len(t) * CHAR_W for t in lines[1:]]) + 2 * PAD
    if node.kind == "router":
        w += 12  # the octagon's cut corners
    return tuple(lines), max(w, 64.0), len(lines) * LINE_H + 2 * PAD - 2


def _adjacency(lab: Lab) -> dict[str, list[str]]:
    adj: dict[str, list[str]] = {n.name: [] for n in lab.nodes}
    for link in lab.links:
        a, b = link.a.node, link.b.node
        if b not in adj[a]:
            adj[a].append(b)
            adj[b].append(a)
    return adj


def _bfs(adj: dict[str, list[str]], root: str) -> tuple[list[str], dict[str, str | None]]:
    order, parent = [root], {root: None}
    queue = deque([root])
    while queue:
        cur = queue.popleft()
        for nxt in adj[cur]:
            if nxt not in parent:
                parent[nxt] = cur
                order.append(nxt)
                queue.append(nxt)
    return order, parent


def _centre(adj: dict[str, list[str]], start: str) -> tuple[str, list[str], dict[str, str | None]]:
    """The middle of a longest shortest path (two breadth-first searches), and the BFS tree from it."""
    order, _ = _bfs(adj, start)
    far = order[-1]
    order, parent = _bfs(adj, far)
    path = [order[-1]]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])  # type: ignore[arg-type]
    root = path[(len(path) - 1) // 2]
    order, parent = _bfs(adj, root)
    return root, order, parent


def _columns(order: list[str], parent: dict[str, str | None], root: str) -> list[list[str]]:
    """Logical columns (left to right) of one component, each in BFS order, then wrapped."""
    children: dict[str, list[str]] = {n: [] for n in order}
    for n in order[1:]:
        children[parent[n]].append(n)  # type: ignore[index]
    size = {n: 1 for n in order}
    for n in reversed(order[1:]):
        size[parent[n]] += size[n]  # type: ignore[index]
    half = (len(order) - 1) / 2
    side: dict[str, int] = {root: 0}
    left, going_right = 0, False
    for child in children[root]:
        if not going_right and left + size[child] <= half:
            side[child] = -1
            left += size[child]
        else:
            going_right = True
            side[child] = 1
    depth = {root: 0}
    for n in order[1:]:
        p = parent[n]
        depth[n] = depth[p] + 1  # type: ignore[index]
        side.setdefault(n, side[p])  # type: ignore[index]
    cols: dict[int, list[str]] = {}
    for n in order:
        cols.setdefault(side[n] * depth[n], []).append(n)
    out: list[list[str]] = []
    for c in sorted(cols):
        chunks = [cols[c][i : i + MAX_PER_COLUMN] for i in range(0, len(cols[c]), MAX_PER_COLUMN)]
        out += list(reversed(chunks)) if c < 0 else chunks  # wrap outwards
    return out


def _clip(box: Box, tx: float, ty: float) -> tuple[float, float]:
    """Where the segment from the box's centre towards (tx, ty) leaves the box."""
    dx, dy = tx - box.cx, ty - box.cy
    if dx == 0 and dy == 0:
        return box.cx, box.cy
    sx = (box.w / 2) / abs(dx) if dx else float("inf")
    sy = (box.h / 2) / abs(dy) if dy else float("inf")
    s = min(sx, sy, 1.0)
    return box.cx + dx * s, box.cy + dy * s


def layout(lab: Lab) -> Layout:
    """Place every node of the lab; same lab, same layout, to the last decimal."""
    adj = _adjacency(lab)
    sizes = {n.name: _box(n, lab) for n in lab.nodes}
    labels = {link.index: (link_label(lab, link), tuple(impairment_lines(lab, link))) for link in lab.links}
    longest = max((len(t) for pair in labels.values() for lines in pair for t in lines), default=0)
    gap_x = max(MIN_GAP_X, longest * CHAR_W + 40)
    boxes: dict[str, Box] = {}
    seen: set[str] = set()
    top, width = MARGIN, 0.0
    for node in lab.nodes:
        if node.name in seen:
            continue
        root, order, parent = _centre(adj, node.name)
        seen.update(order)
        columns = _columns(order, parent, root)
        heights = [sum(sizes[n][2] for n in col) + GAP_Y * (len(col) - 1) for col in columns]
        tallest = max(heights)
        x = MARGIN
        for col, h in zip(columns, heights, strict=True):
            colw = max(sizes[n][1] for n in col)
            y = top + (tallest - h) / 2
            for n in col:
                lines, w, bh = sizes[n]
                boxes[n] = Box(n, lab.node(n).kind, lines, round(x + (colw - w) / 2, 1), round(y, 1),
                               round(w, 1), round(bh, 1))
                y += bh + GAP_Y
            x += colw + gap_x
        width = max(width, x - gap_x + MARGIN)
        top += tallest + GAP_COMPONENTS
    edges = _edges(lab, boxes, labels)
    height = top - GAP_COMPONENTS + MARGIN
    for e in edges:  # a link's words hang below its middle (topology.py): keep them in the picture
        lines = (*e.label, *e.impair)
        if lines:
            height = max(height, (e.y1 + e.y2) / 2 + 6 + len(lines) * LABEL_LINE + 4 + MARGIN / 2)
            width = max(width, (e.x1 + e.x2) / 2 + max(len(t) for t in lines) * CHAR_W / 2 + MARGIN)
    return Layout(lab.name, boxes, tuple(edges), round(width, 1), round(height, 1))


def _edges(lab: Lab, boxes: dict[str, Box], labels: dict[int, tuple[tuple[str, ...], tuple[str, ...]]]) -> list[Edge]:
    pairs: dict[frozenset[str], list[Link]] = {}
    for link in lab.links:
        pairs.setdefault(frozenset((link.a.node, link.b.node)), []).append(link)
    edges: list[Edge] = []
    for link in lab.links:
        same = pairs[frozenset((link.a.node, link.b.node))]
        a, b = boxes[link.a.node], boxes[link.b.node]
        offset = (same.index(link) - (len(same) - 1) / 2) * 16
        dx, dy = b.cx - a.cx, b.cy - a.cy
        norm = (dx * dx + dy * dy) ** 0.5 or 1.0
        ox, oy = -dy / norm * offset, dx / norm * offset
        x1, y1 = _clip(a, b.cx + ox, b.cy + oy)
        x2, y2 = _clip(b, a.cx + ox, a.cy + oy)
        edges.append(Edge(link.index, link.a, link.b, round(x1 + ox, 1), round(y1 + oy, 1),
                          round(x2 + ox, 1), round(y2 + oy, 1), *labels[link.index]))
    return edges

