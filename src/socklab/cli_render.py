"""What the commands print: tables and reports on stdout, progress and notes on stderr, JSON.

cli.py calls the library and hands its results here. rich (behind socklab.render) is
imported only when something is printed, so that parsing a command line stays cheap; typer
not at all (entry.py's path for `socklab run LAB...` goes without it).
"""

from __future__ import annotations

import json
import os
import sys

from socklab.exits import exit_code


def error_line(err: BaseException) -> int:
    """A SocklabError or an interruption, said on one line of stderr; the exit code it means."""
    text = "interrupted" if isinstance(err, KeyboardInterrupt) else f"error: {err}"
    if sys.stderr is not None:  # None: started with stderr closed; the code still says it
        sys.stderr.write(f"socklab: {text}\n")
        sys.stderr.flush()
    return exit_code(err)


def out(*parts: object, stderr: bool = False) -> None:
    from socklab.render import console

    console_ = console(stderr=stderr)
    for part in parts:
        console_.print(part)


def out_json(data: object) -> None:
    print(json.dumps(data, indent=2))


def table_or_json(data: object, table: object, as_json: bool) -> None:
    out_json(data) if as_json else out(table)


def exec_(argv: list[str]) -> None:
    """Replace socklab with `argv` (exec, shell, a one-wire capture): its output and exit code are ours."""
    from socklab.errors import InfrastructureError

    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        raise InfrastructureError(f"cannot run {argv[0]}: {err.strerror}") from None


def status(records: list | None, deployment, as_json: bool) -> None:
    """Every instance's summary (records), or one deployment's nodes in detail."""
    from socklab import render

    if records is not None:
        data, table = [render.record_summary(r) for r in records], render.instances_table(records)
    else:
        data = render.instance_detail(deployment)
        table = render.detail_table(data)
    table_or_json(data, table, as_json)


def run_result(result, as_json: bool) -> None:
    """One lab's run as it finishes: its failure on stderr, its report unless JSON comes at the end."""
    from socklab.render import run_failure, run_report

    if result.error:
        out(run_failure(result), stderr=True)
    if not as_json:
        out(*run_report(result), "")


def run_results(results: list, as_json: bool) -> None:
    """After every lab ran: the JSON (one object, or a list for several labs), or the verdicts of several."""
    from socklab.render import run_verdicts

    if as_json:
        out_json(results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results])
    elif len(results) > 1:
        out(*run_verdicts(results))


def verify_result(result, as_json: bool) -> None:
    from socklab.render import run_report

    out_json(result.to_dict()) if as_json else out(*run_report(result))


def grade_progress(done: int, total: int, grade) -> None:
    from socklab.render import grade_progress as line

    out(line(done, total, grade), stderr=True)


def grades(report, written, fmt: str) -> None:
    """A finished batch: a stop that still exits 0 (PrairieLearn), the document, the table, the summary CSV."""
    from socklab.render import grades_report

    if report.stopped_by is not None:  # PrairieLearn reads results only after exit 0
        out(f"socklab: error: {report.stopped_by} (results written; exit 0 for {fmt})", stderr=True)
    if written.stdout is not None:
        sys.stdout.write(written.stdout)
    for part, to_stderr in grades_report(report.grades, fmt):
        out(part, stderr=to_stderr)
    if written.summary is not None:
        out(f"summary: {written.summary}", stderr=True)


def selftest_progress(outcome) -> None:
    from socklab.render import selftest_progress as line

    out(line(outcome), stderr=True)


def selftest(report, as_json: bool) -> None:
    from socklab.render import selftest_tables

    out_json(report.to_dict()) if as_json else out(*selftest_tables(report))


def capturing(where: list) -> None:
    print(f"socklab: capturing on {', '.join(str(p) for p, _ in where)}", file=sys.stderr, flush=True)


def link(shown: dict, as_json: bool) -> None:
    from socklab.impair.render import directions_table

    out_json(shown["directions"]) if as_json else out(directions_table(shown["directions"]))


def data(payload: bytes, output) -> None:
    """Bytes to a file, or to stdout (graph)."""
    if output is None:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
    else:
        output.write_bytes(payload)


def opened(path, ok: bool) -> None:
    if not ok:
        out(f"no browser to open here: open {path.as_uri()} yourself", stderr=True)
