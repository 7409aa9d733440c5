"""Pictures of labs and runs: topology drawings and the self-contained report.html.

    from socklab.report import write_report
    write_report(run_folder)                 # runs/<instance>-<stamp>/report.html

    from socklab.report.graph import render_graph
    render_graph(lab, "svg")                 # the lab's drawing, from the lab file alone

Modules, one job each: layout.py places nodes (pure, deterministic), topology.py draws the
layout as SVG, textgraph.py writes dot and mermaid, conversations.py groups captured frames
into conversations, ladder.py draws them as sequence diagrams, timeline.py draws the steps,
html.py assembles the page, build.py reads a run folder and writes the report, chromium.py
drives headless Chromium (PNG drawings). Importing this package loads nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(folder: Path, results: dict[str, Any] | None = None) -> Path:
    """(Re)build folder/report.html from the run folder's files; `results` overrides results.json."""
    from socklab.report.build import write_report as _write

    return _write(folder, results)
