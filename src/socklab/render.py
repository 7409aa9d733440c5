"""Rich renderings for the CLI: tables and progress. The library never prints."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from socklab.deployment import Deployment
from socklab.gc import GcReport
from socklab.model.lab import Lab
from socklab.plan import Plan
from socklab.runfolder import RunFolder
from socklab.state import Record


def console(stderr: bool = False) -> Console:
    """The CLI's consoles: no emoji (MACs such as 02:8c:54:cd:33 must stay MACs), no highlighting;
    not a terminal (a pipe, CI logs): 200 columns, so tables are not squeezed into 80."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream is not None and stream.isatty() else 200  # None: started with it closed
    return Console(stderr=stderr, highlight=False, width=width, emoji=False)


def lab_summary(lab: Lab) -> str:
    hosts = sum(1 for n in lab.nodes if n.kind != "switch")
    return (
        f"[green]✓[/] {lab.source}: lab [bold]{lab.name}[/], {hosts} host(s)/router(s), "
        f"{len(lab.nodes) - hosts} switch(es), {len(lab.links)} link(s), "
        f"{len(lab.scenario)} step(s), {len(lab.expect)} expectation(s)"
    )


def up_summary(deployment: Deployment) -> str:
    nodes = len(deployment.plan.nodes)
    return (
        f"[green]✓[/] lab instance [bold]{deployment.instance}[/] is up ({nodes} nodes, backend "
        f"{deployment.backend.name}). Try: socklab exec {deployment.instance} "
        f"{deployment.plan.nodes[0].name} -- ip addr"
    )


def gc_lines(report: GcReport, dry_run: bool) -> list[str]:
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} instance {i}" for i in report.instances] + [f"{verb} orphan {o}" for o in report.orphans]
    if not lines:
        kept = f" ({len(report.kept)} live instance(s) kept)" if report.kept else ""
        lines.append("nothing to collect" + kept)
    return lines


def grade_progress(done: int, total: int, grade) -> str:
    status = f"{grade.score:g}/{grade.max_score:g}" if grade.gradable else f"not graded: {grade.error}"
    return f"[{done}/{total}] {grade.submission}: {status} ({grade.duration:.2f}s)"


def plan_table(plan: Plan) -> Table:
    table = Table(title=f"plan for lab {plan.lab}, instance {plan.instance}", title_justify="left")
    for column in ("node", "kind", "namespace", "interface", "index", "mac", "mtu", "addresses", "peer"):
        table.add_column(column)
    for node in plan.nodes:
        first = True
        rows = node.interfaces or [None]
        for iface in rows:
            cells = [node.name if first else "", node.kind if first else "", node.netns if first else ""]
            if iface:
                cells += [
                    iface.name, str(iface.index), iface.mac, str(iface.mtu or ""),
                    " ".join(iface.ipv4 + iface.ipv6) or ("(bridge port)" if node.bridge else ""), iface.peer,
                ]
            table.add_row(*cells)
            first = False
        for route in node.routes:
            table.add_row("", "", "", "route", "", "", "", f"{route.to} via {route.via}", "")
    return table


class ProgressBars:
    """Listener for the library's progress(phase, done, total) events, drawn on stderr."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True,
        )
        self.tasks: dict[str, Any] = {}

    def update(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)

    def __enter__(self) -> ProgressBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def record_summary(record: Record) -> dict[str, Any]:
    return {
        "instance": record.instance, "lab": record.lab, "backend": record.backend, "state": record.state,
        "nodes": len(record.names("netns")) or len(record.names("container")), "lab_file": record.lab_file,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created)) if record.created else None,
    }


def instances_table(records: list[Record]) -> Table:
    table = Table(title="lab instances", title_justify="left")
    for column in ("instance", "lab", "backend", "state", "nodes", "created"):
        table.add_column(column)
    for record in records:
        s = record_summary(record)
        table.add_row(s["instance"], s["lab"], s["backend"], s["state"], str(s["nodes"]), s["created"] or "")
    if not records:
        table.caption = "no lab is up"
    return table


def instance_detail(deployment: Deployment) -> dict[str, Any]:
    from socklab.kernelview import node_interfaces

    nodes = []
    for node in deployment.plan.nodes:
        live = node_interfaces(deployment.netns_path(node.name))
        nodes.append({
            "name": node.name, "kind": node.kind, "netns": node.netns, "running": live is not None,
            "interfaces": [
                {"name": i.name, "state": i.state, "mac": i.mac, "mtu": i.mtu, "addresses": i.addresses}
                for i in (live or [])
            ],
        })
    return {**record_summary(deployment.record), "nodes": nodes}


def detail_table(data: dict[str, Any]) -> Table:
    table = Table(title=f"{data['instance']} (lab {data['lab']}, {data['backend']}, {data['state']})", title_justify="left")
    for column in ("node", "kind", "interface", "state", "mac", "mtu", "addresses"):
        table.add_column(column)
    for node in data["nodes"]:
        if not node["running"]:
            table.add_row(node["name"], node["kind"], "", "[red]missing[/]", "", "", "")
            continue
        for n, iface in enumerate(node["interfaces"] or [{"name": "", "state": "", "mac": "", "mtu": "", "addresses": []}]):
            color = "green" if iface["state"] in ("up", "unknown") else "red"
            table.add_row(
                node["name"] if n == 0 else "", node["kind"] if n == 0 else "", iface["name"],
                f"[{color}]{iface['state']}[/]", iface["mac"], str(iface["mtu"]), " ".join(iface["addresses"]),
            )
    return table


def _tail_lines(text: str, lines: int = 3, width: int = 100) -> str:
    kept = [line[:width] for line in text.strip().splitlines()[-lines:]]
    return "\n".join(kept)


def run_report(result) -> list:
    """The report of one run: steps, then expectations, then a verdict line."""
    from rich.text import Text

    out: list = []
    steps = Table(title=f"run of {result.lab} ({result.instance}, {result.backend})", title_justify="left",
                  show_lines=True)
    for column in ("step", "node", "command", "result", "time", "output (tail)"):
        steps.add_column(column, overflow="fold")
    for s in result.steps:
        if s.ok:
            verdict = "[green]ok[/]" + (" (killed at end)" if s.killed else "")
        else:
            verdict = f"[red]FAILED[/]: {s.problem}"
        tail = _tail_lines(s.stdout_tail) + ("\n[dim]stderr:[/] " + _tail_lines(s.stderr_tail) if s.stderr_tail.strip() else "")
        steps.add_row(s.id, s.node, s.command, verdict, f"{s.duration:.2f}s", tail)
    out.append(steps)
    if result.expectations:
        table = Table(title="expectations", title_justify="left", show_lines=True)
        for column in ("id", "check", "result", "evidence / what was seen"):
            table.add_column(column, overflow="fold")
        for e in result.expectations:
            if e.passed:
                verdict, detail = "[green]pass[/]", "\n".join(e.evidence[:2])
            elif e.error:
                verdict = "[yellow]not graded[/]" if e.error.startswith("not graded:") else "[yellow]error[/]"
                detail = e.error
            elif getattr(e, "skipped", False):
                verdict, detail = "[dim]skipped[/]", e.message
            else:
                verdict, detail = "[red]FAIL[/]", e.message + (f"\n{e.diff}" if e.diff else "")
            table.add_row(e.id, e.title, verdict, Text.from_markup(detail) if "[" not in detail else Text(detail))
        out.append(table)
    if result.captures:
        caps = ", ".join(f"{p} ({c['file']})" for p, c in result.captures.items())
        out.append(Text(f"captures: {caps}", style="dim"))
    report = RunFolder(result.folder).report
    if report.is_file():
        out.append(Text(f"report: {report} (socklab report RUNFOLDER --open opens it)", style="dim"))
    if result.error:
        out.append(Text(f"run failed: {result.error}", style="bold red"))
    passed = sum(1 for e in result.expectations if e.passed)
    verdict = "[bold green]PASS[/]" if result.ok else "[bold red]FAIL[/]"
    t = result.timings
    out.append(Text.from_markup(
        f"{verdict} {result.lab}: {sum(s.ok for s in result.steps)}/{len(result.steps)} steps ok, "
        f"{passed}/{len(result.expectations)} expectations met — {t.get('total', 0):.2f}s "
        f"(up {t.get('up', 0):.2f}s, steps {t.get('steps', 0):.2f}s, down {t.get('down', 0):.2f}s) → {result.folder}"
    ))
    return out


def run_failure(result) -> str:
    return f"[red]infrastructure failure[/] in {result.lab}: {result.error}"


def run_verdicts(results: list) -> list[str]:
    """One PASS/FAIL line per lab, after several runs."""
    return [("[green]PASS[/] " if r.ok else "[red]FAIL[/] ") + r.lab for r in results]


def grades_report(grades: list, fmt: str) -> list[tuple[Any, bool]]:
    """What `socklab grade` shows, as (renderable, to stderr): with --format table the grades on
    stdout (one submission's detail first); with another format, stdout holds the document, so
    the table of several submissions goes to stderr."""
    if fmt == "table":
        detail = [(grade_detail(grades[0]), False)] if len(grades) == 1 and grades[0].gradable else []
        return [*detail, (grades_table(grades), False)]
    return [(grades_table(grades), True)] if len(grades) > 1 else []


def grades_table(grades) -> Table:
    """One row per submission, one column per test."""
    ids: list[str] = []
    for grade in grades:
        ids += [t.id for t in grade.tests if t.id not in ids]
    table = Table(title=f"grades ({len(grades)} submission{'s' * (len(grades) != 1)})", title_justify="left")
    table.add_column("submission")
    table.add_column("score", justify="right")
    for test_id in ids:
        table.add_column(test_id, justify="center")
    table.add_column("notes", overflow="fold")
    for grade in grades:
        marks = {t.id: ("[green]✓[/]" if t.passed else "[dim]-[/]" if t.skipped else "[red]✗[/]") for t in grade.tests}
        score = f"{grade.score:g}/{grade.max_score:g}" if grade.gradable else "[yellow]not graded[/]"
        notes = grade.error or ", ".join(f"missing {m}" for m in grade.missing)
        table.add_row(grade.submission, score, *[marks.get(i, "") for i in ids], notes)
    return table


def grade_detail(grade) -> Table:
    table = Table(title=f"{grade.submission}: {grade.score:g}/{grade.max_score:g}", title_justify="left",
                  show_lines=True)
    for column in ("test", "points", "feedback"):
        table.add_column(column, overflow="fold")
    for t in grade.tests:
        mark = "[green]✓[/]" if t.passed else "[dim]-[/]" if t.skipped else "[red]✗[/]"
        from rich.text import Text

        feedback = Text(t.feedback + (f"\n{t.output}" if t.output else ""))
        table.add_row(f"{mark} {t.title}", f"{t.score:g}/{t.max_score:g}", feedback)
    return table


def selftest_progress(outcome) -> str:
    verdict = "as expected" if outcome.matches else "pending" if outcome.pending else "[red]MISMATCH[/]"
    return f"{outcome.lab}/{outcome.name}: {verdict} ({outcome.duration:.2f}s)"


def selftest_tables(report) -> list:
    """Per lab: a verdict matrix (solution and mutants x tests), then each mismatch in words."""
    from rich.text import Text

    marks = {"pass": "✓", "fail": "✗", "skipped": "–"}
    out: list = []
    for lab in report.labs:
        rows = [o for o in report.outcomes if o.lab == lab]
        ids: list[str] = []
        for row in rows:
            ids += [c.check for c in row.cells if c.check not in ids]
        table = Table(title=f"selftest {lab}: {sum(r.matches for r in rows)}/{len(rows)} as expected",
                      title_justify="left")
        table.add_column("mutant", no_wrap=True)
        for test_id in ids:
            pairing, _, check = test_id.rpartition(":")
            table.add_column(f"{pairing}\n{check}" if pairing else check, justify="center")
        table.add_column("score", justify="right")
        table.add_column("verdict", no_wrap=True)
        notes: list[str] = []
        for row in rows:
            cells = {c.check: c for c in row.cells}
            shown = []
            for test_id in ids:
                cell = cells.get(test_id)
                if cell is None:
                    shown.append("")
                elif cell.ok:
                    shown.append(f"[green]{marks[cell.actual]}[/]")
                else:
                    shown.append(f"[red]{marks[cell.actual]}≠{marks[cell.expected]}[/]")
                    if cell.expected != cell.actual:
                        notes.append(f"{row.name}: {test_id} is {cell.actual}, expected {cell.expected}")
                    else:
                        notes.append(f"{row.name}: {test_id}: feedback lacks {cell.feedback_wanted!r}")
            notes += [f"{row.name}: {p}" for p in row.problems]
            verdict = ("[green]as expected[/]" if row.matches else
                       "[yellow]pending[/]" if row.pending else "[red]MISMATCH[/]")
            if row.pending and not row.matches:
                notes.insert(0, f"{row.name} is pending: {row.pending}")
            table.add_row(row.name, *shown, f"{row.score:g}/{row.max_score:g}", verdict)
        out.append(table)
        out += [Text(f"  {n}", style="red") for n in notes]
    out.append(f"{'OK' if report.ok else 'FAILED'}: {len(report.outcomes)} submissions of {len(report.labs)} "
               f"lab(s) in {report.duration:.1f}s")
    return out
