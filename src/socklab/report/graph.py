"""`socklab graph`: a lab's drawing from the lab file alone, in one of four formats."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from socklab.errors import UsageError
from socklab.model.lab import Lab
from socklab.report.layout import layout
from socklab.report.textgraph import to_dot, to_mermaid
from socklab.report.topology import topology_svg


def _svg(lab: Lab) -> bytes:
    return topology_svg(lab).encode()


def _png(lab: Lab) -> bytes:
    from socklab.report.chromium import screenshot

    drawn = layout(lab)
    with tempfile.TemporaryDirectory(prefix="socklab-graph-") as tmp:
        page, out = Path(tmp) / f"{lab.name}.svg", Path(tmp) / f"{lab.name}.png"
        page.write_text(topology_svg(lab, drawn))
        screenshot(page, out, math.ceil(drawn.width), math.ceil(drawn.height), scale=2)
        return out.read_bytes()


FORMATS: dict[str, Callable[[Lab], bytes]] = {
    "svg": _svg,
    "png": _png,
    "dot": lambda lab: to_dot(lab).encode(),
    "mermaid": lambda lab: to_mermaid(lab).encode(),
}
SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid"}


def choose_format(fmt: str | None, output: Path | None) -> str:
    """The format asked for, else the one the output file's suffix names, else svg."""
    if fmt is None:
        return SUFFIXES.get(output.suffix.lower(), "svg") if output is not None else "svg"
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    return fmt


def render_graph(lab: Lab, fmt: str) -> bytes:
    """The lab drawn in `fmt` (svg, png, dot, mermaid). PNG needs Chromium; the rest is pure."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    return FORMATS[fmt](lab)


def check_destination(fmt: str, output: Path | None, tty: bool) -> None:
    """A PNG is not written to a terminal."""
    if fmt == "png" and output is None and tty:
        raise UsageError("a PNG is binary: give -o FILE.png (or pipe the output)")
