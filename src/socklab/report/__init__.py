"""Pictures of labs and runs: topology drawings and the self-contained report.html.

    from socklab.report import write_report
    write_report(run_folder)                 # runs/<instance>-<stamp>/report.html

    from socklab.report.graph import render_graph
    render_graph(lab, "svg")                 # the lab's drawing, from the lab file alone

Modules, one job each: layout.py places nodes (pure, deterministic), topology.py draws the
layout as SVG, textgraph.py writes dot and mermaid, graph.py picks the format (`socklab
graph`), chromium.py drives headless Chromium (PNG), conversations.py groups captured
frames into conversations, ladder.py draws them as sequence diagrams, timeline.py draws the
steps, html.py assembles the page, build.py reads a run folder and writes the report,
opener.py hands it to a browser, testing.py makes run folders from packets (tests, bench).
Importing this package loads nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_report(folder: Path, results: dict[str, Any] | None = None, strict: bool = True,
                 everything: bool = False, lab: Any = None) -> Path:
    """(Re)build folder/report.html from the run folder's files; `results` overrides results.json.

    A graded run's page leaves out the checks `grading.visibility` hides from students, unless
    `everything` (`socklab report --all`, the teacher's full view).

    strict=False (run, grade, verify): a report that cannot be built must not cost the run
    its results, so the page then says why instead, and the error is not raised.
    `lab`: the run's lab, where the caller holds it (the folder's lab.yaml is its copy), so
    that it is not read and validated again.
    """
    from socklab.report.build import write_report as _write

    if strict:
        return _write(folder, results, everything, lab)
    try:
        return _write(folder, results, everything, lab)
    except Exception as err:  # the report is a view of the run: never let it fail the run
        from html import escape

        from socklab.runfolder import RunFolder

        target = RunFolder(Path(folder)).report
        target.write_text(f"<!DOCTYPE html><meta charset=utf-8><title>socklab report</title><p>socklab could not "
                          f"build this report ({escape(type(err).__name__)}: {escape(str(err))}); results.json and "
                          "the pcaps are complete. Try <code>socklab report</code> on this folder.</p>\n")
        return target
