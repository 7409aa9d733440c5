"""Read a run folder (results.json, plan.json, lab.yaml, pcaps) and write its report.html.

Captures are read with verify's struct-only pcap reader and frame decoder (no scapy):
100k packets are read, grouped and summarised in well under a second.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socklab.errors import LabFileError, UsageError
from socklab.model.lab import IfaceRef
from socklab.report import html
from socklab.report.conversations import Conversation, Endpoints, group
from socklab.report.ladder import faults_for, ladder_html, rows, select
from socklab.report.timeline import timeline_svg
from socklab.runfolder import RunFolder
from socklab.verify.frames import Capture, Frame, decode
from socklab.verify.pcap import CaptureFormatError, read_records

MAX_LADDERS = 40  # conversations drawn; the rest are listed in the captures' tables
MAX_ROWS = 5000  # packet rows drawn in the whole report (keeps 100k-packet runs under 5 MB)
EVIDENCE_REF = re.compile(r"([A-Za-z0-9_.-]+\.pcap(?:ng)?) #(\d+)")


@dataclass
class CaptureData:
    point: str
    file: str  # relative to the run folder
    dropped: int | None
    frames: list[Frame] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    problem: str | None = None  # unreadable, missing, cut short


@dataclass
class RunView:
    """Everything the page shows, gathered from one run folder."""

    folder: Path
    results: dict[str, Any]
    manifest: dict[str, Any]
    topology: str | None
    description: str
    captures: list[CaptureData]
    references: dict[str, set[int]]  # capture point -> packet numbers expectations point at
    file_points: dict[str, str]  # pcap file name -> capture point
    faults: list[dict[str, Any]]
    names: Endpoints
    t0: float
    t1: float
    ladders: list[tuple[Conversation, str]] = field(default_factory=list)  # (conversation, its html)
    withheld: dict[str, str] = field(default_factory=dict)  # expectation id -> its visibility, not shown here


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _load(run: RunFolder) -> Any:
    """The run's copy of its lab file (None when it is missing or no longer loads)."""
    from socklab.model.loader import load_lab

    try:
        return load_lab(run.lab_file)
    except LabFileError:
        return None


def _topology(lab: Any, points: list[str]) -> tuple[str | None, str]:
    """The run's lab drawn with its capture points marked, and the lab's description."""
    from socklab.report.topology import topology_svg

    if lab is None:
        return None, ""
    return topology_svg(lab, captured=frozenset(points)), lab.description


def withheld(lab: Any, results: dict[str, Any]) -> dict[str, str]:
    """Checks a graded run's report must not show: those whose `grading.visibility` is not
    `visible`. The page may be attached to a grade, so it keeps to what the grade shows a
    student; results.json (the teacher's record) keeps everything."""
    if "sandbox" not in results:  # not a graded run: the teacher's own (and no grading to thaw)
        return {}
    grading = getattr(lab, "grading", None)
    if grading is None:
        return {}
    ids = (str(e.get("id")) for e in results.get("expectations", []))
    return {i: v for i in ids if (v := grading.visibility.get(i, grading.default_visibility)) != "visible"}


def _references(results: dict[str, Any], file_points: dict[str, str]) -> dict[str, set[int]]:
    refs: dict[str, set[int]] = {}
    for exp in results.get("expectations", []):
        texts = [*exp.get("evidence", []), exp.get("message") or "", exp.get("diff") or ""]
        for text in texts:
            for name, no in EVIDENCE_REF.findall(text):
                if name in file_points:
                    refs.setdefault(file_points[name], set()).add(int(no))
    return refs


def _read_capture(folder: Path, point: str, info: dict[str, Any]) -> CaptureData:
    rel = str(info.get("file") or RunFolder(folder).relative(RunFolder(folder).pcap(IfaceRef.parse(point))))
    data = CaptureData(point, rel, info.get("dropped"))
    path = folder / rel
    try:
        records, cut = read_records(path)
    except (OSError, CaptureFormatError) as err:
        data.problem = f"cannot read {rel}: {getattr(err, 'strerror', None) or err}"
        return data
    if cut:
        data.problem = "the capture ends in the middle of a packet (tcpdump was stopped abruptly)"
    data.frames = decode(Capture(point, path), records)
    data.conversations = group(point, data.frames)
    return data


def gather(folder: Path, results: dict[str, Any] | None = None, everything: bool = False,
           lab: Any = None) -> RunView:
    """Read what the report needs from a run folder (results, and the lab its lab.yaml holds,
    may be given: by run, by verify).

    A graded run's hidden checks are left out unless `everything` (the teacher's view)."""
    run = RunFolder(Path(folder).resolve())
    folder = run.path
    if results is None:
        results = _json(run.results)
        if not results:
            raise UsageError(f"{folder} is not a socklab run folder (no readable results.json)")
    lab = lab if lab is not None else _load(run)
    hidden = {} if everything else withheld(lab, results)
    if hidden:
        results = {**results, "expectations": [e for e in results.get("expectations", []) if str(e.get("id")) not in hidden]}
    plan = _json(run.plan)
    names = Endpoints.from_plan(plan)
    captures = [_read_capture(folder, p, info or {}) for p, info in (results.get("captures") or {}).items()]
    file_points = {Path(c.file).name: c.point for c in captures}
    stamps = [float(s[k]) for s in results.get("steps", []) for k in ("started", "ended") if s.get(k)]
    stamps += [f.ts for c in captures for f in (c.frames[:1] + c.frames[-1:])]
    faults = [f for f in (results.get("faults") or []) if isinstance(f, dict)]
    stamps += [float(f["time"]) for f in faults[:1] + faults[-1:] if isinstance(f.get("time"), int | float)]
    t0, t1 = (min(stamps), max(stamps)) if stamps else (0.0, 1.0)
    topology, description = _topology(lab, [c.point for c in captures])
    view = RunView(folder, results, _json(run.manifest), topology, description, captures,
                   _references(results, file_points), file_points, faults, names, t0, t1, withheld=hidden)
    for cap in captures:
        for conv in cap.conversations[: html.MAX_TABLE]:
            conv.resolve(names)
    _draw_ladders(view)
    return view


def _draw_ladders(view: RunView) -> None:
    """Draw conversations within the report's budget: on each capture, the ones an
    expectation points at first, then the others in capture order; captures share the
    MAX_LADDERS ladders, and MAX_ROWS rows in all."""
    budget = MAX_ROWS
    per_capture = max(4, MAX_LADDERS // max(1, len(view.captures)))
    for cap in view.captures:
        refs = view.references.get(cap.point, set())
        named = [c for c in cap.conversations if refs and any(f.no in refs for f in c.frames)]
        chosen = {id(c) for c in named}
        order = named + [c for c in cap.conversations if id(c) not in chosen]
        drawn_here = 0
        for conv in order:
            if drawn_here >= per_capture or len(view.ladders) >= MAX_LADDERS or budget <= 0:
                break
            conv.resolve(view.names)
            head = min(300, max(20, budget - 100))
            drawn = select(conv, refs, head=head, tail=min(100, max(0, budget - head)))
            budget -= len(drawn)
            drawn_here += 1
            marked = {i for i in drawn if conv.frames[i].no in refs}
            laid = rows(conv, drawn, faults_for(conv, view.faults))
            view.ladders.append((conv, ladder_html(conv, laid, view.t0, marked)))


def render(view: RunView) -> str:
    """The whole self-contained page."""
    packets = {c.point: [f.ts for f in c.frames] for c in view.captures}
    changes = [c for c in (view.results.get("link_changes") or []) if isinstance(c, dict)]
    timeline = timeline_svg(view.results.get("steps", []), packets, view.faults, view.t0, view.t1, changes)
    return html.page(view, timeline)


def write_report(folder: Path, results: dict[str, Any] | None = None, everything: bool = False,
                 lab: Any = None) -> Path:
    """Build and write folder/report.html (atomically: a reader never sees half a page)."""
    view = gather(folder, results, everything, lab)
    target = RunFolder(view.folder).report
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    tmp.write_text(render(view), encoding="utf-8")
    os.replace(tmp, target)
    return target


__all__ = ["CaptureData", "RunView", "gather", "render", "withheld", "write_report"]
