"""The socklab command line: parse, call the library, render. No logic lives here.

Heavy modules (pyroute2, scapy, docker, rich) are imported inside commands so that
`socklab --help` stays fast. Errors become a message and an exit code in one place:
`EXIT_CODES`, applied by `_Group.invoke`.
"""

from __future__ import annotations

import json
import os
import sys
from enum import IntEnum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from socklab.errors import InfrastructureError, SocklabError, UsageError


class Exit(IntEnum):
    """What socklab's exit code means, for every command (README: "Exit codes")."""

    OK = 0  # done; for run/verify: every step and expectation met; for grade: grading completed
    FAILED = 1  # run/verify: a step or an expectation was not met
    BAD_INPUT = 2  # a lab file, an argument, a submission (also click's own usage errors)
    NOT_GRADABLE = 2  # run: the evidence is incomplete (a capture lost packets): nothing to judge
    INFRASTRUCTURE = 3  # the kernel refused, a tool is missing, the engine is down
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: labs came down, results were written


EXIT_CODES: tuple[tuple[type[SocklabError], Exit], ...] = (
    (InfrastructureError, Exit.INFRASTRUCTURE),
    (SocklabError, Exit.BAD_INPUT),  # LabFileError, UsageError, SubmissionError
)
"""Error class -> exit code, first match wins (so subclasses come before their bases)."""


def exit_code(error: BaseException | None) -> Exit:
    if error is None:
        return Exit.OK
    if isinstance(error, KeyboardInterrupt):
        return Exit.INTERRUPTED
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), Exit.INFRASTRUCTURE)


class _Group(TyperGroup):
    """Turns a SocklabError into one line on stderr and its exit code (--debug: the traceback)."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (SocklabError, KeyboardInterrupt) as err:
            if ctx.meta.get("socklab.debug"):
                raise
            text = "interrupted" if isinstance(err, KeyboardInterrupt) else f"error: {err}"
            typer.echo(f"socklab: {text}", err=True)
            raise typer.Exit(exit_code(err)) from None


app = typer.Typer(
    name="socklab", cls=_Group, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "Isolated network labs for socket programming: build a topology of network "
        "namespaces (or containers), run programs in its nodes, capture and verify "
        "what crossed the wires, grade submissions.\n\n"
        "LAB is a folder holding lab.yaml, a lab file, or the name of a shipped lab "
        "(see labs/). Most commands need root. Exit codes: 0 ok, 1 checks failed, "
        "2 bad input (or not gradable), 3 infrastructure failure, 130 interrupted."
    ),
)

LabArg = Annotated[str, typer.Argument(help="A lab folder, a lab.yaml, or a shipped lab's name.", metavar="LAB")]
NameOpt = Annotated[str | None, typer.Option(
    "--name", "-n", help="Instance name (default: the lab's name). Two instances of one lab may run side by side.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
BackendOpt = Annotated[str | None, typer.Option(
    "--backend", "-b", help="netns (default) or docker; overrides the lab file's backend:.")]
InstanceArg = Annotated[str, typer.Argument(help="The lab instance.")]
RunsDirOpt = Annotated[Path | None, typer.Option(
    "--runs-dir", help="Where run folders go (default ./runs or $SOCKLAB_RUNS_DIR).")]


def _out(*parts: object, stderr: bool = False) -> None:
    from socklab.render import console

    out = console(stderr=stderr)
    for part in parts:
        out.print(part)


@app.callback()
def _root(ctx: typer.Context,
          debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    ctx.meta["socklab.debug"] = debug


@app.command()
def validate(lab: LabArg) -> None:
    """Check a lab file; print a one-line summary, or the first problem with its line.

    Example: socklab validate labs/tcp-hello
    """
    from socklab.model.loader import load_lab
    from socklab.render import lab_summary

    _out(lab_summary(load_lab(lab)))


@app.command()
def plan(lab: LabArg, name: NameOpt = None, as_json: JsonOpt = False) -> None:
    """Print every kernel object the lab needs: namespaces, interfaces, MACs, addresses, routes.

    Deterministic: the same lab file and instance name give the same plan, byte for byte.
    """
    from socklab.model.loader import load_lab
    from socklab.plan import make_plan

    result = make_plan(load_lab(lab), name)
    if as_json:
        print(result.to_json())
        return
    from socklab.render import plan_table

    _out(plan_table(result))


@app.command()
def up(lab: LabArg, name: NameOpt = None, backend: BackendOpt = None) -> None:
    """Build the lab's network and leave it running (see `status`, `exec`, `down`).

    Example: socklab up labs/routed --name routed-2
    """
    from socklab.deployment import up as do_up
    from socklab.render import ProgressBars, console, up_summary

    with ProgressBars(console(stderr=True)) as bars:
        deployment = do_up(lab, backend=backend, name=name, progress=bars.update)
    _out(up_summary(deployment), stderr=True)


@app.command()
def down(targets: Annotated[list[str], typer.Argument(
        help="Instance names, or labs (their default instance).", metavar="INSTANCE|LAB...")]) -> None:
    """Remove lab instances and everything they own (namespaces, links, processes)."""
    from socklab.deployment import take_down

    for target in targets:
        _out(f"[green]✓[/] {take_down(target)} is down", stderr=True)


@app.command()
def status(
    instance: Annotated[str | None, typer.Argument(help="Show one instance's nodes in detail.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List running lab instances, or one instance's nodes, interfaces, addresses and link state."""
    from socklab import render, state
    from socklab.deployment import attach, instance_of

    if instance is None:
        records = state.all_records()
        data, table = [render.record_summary(r) for r in records], render.instances_table(records)
    else:
        data = render.instance_detail(attach(instance_of(instance)))
        table = render.detail_table(data)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        _out(table)


@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_(
    instance: InstanceArg,
    node: Annotated[str, typer.Argument(help="The node to run in.")],
    command: Annotated[list[str], typer.Argument(help="The command, after --.", metavar="-- CMD...")],
) -> None:
    """Run a command inside a node, in the environment scenario steps get; its exit code is socklab's.

    Example: socklab exec tcp-hello client -- ping -c1 server
    """
    from socklab.deployment import attach, instance_of
    from socklab.steps import node_argv, node_env

    command = command[1:] if command[:1] == ["--"] else command
    if not command:
        raise UsageError("no command given: socklab exec INSTANCE NODE -- CMD...")
    dep = attach(instance_of(instance))
    _exec(node_argv(dep, node, command, node_env(dep)))


@app.command()
def shell(instance: InstanceArg, node: Annotated[str, typer.Argument(help="The node.")]) -> None:
    """Open an interactive shell inside a node, in the environment scenario steps get (exit to leave)."""
    from socklab.deployment import attach, instance_of
    from socklab.steps import node_argv, node_env

    dep = attach(instance_of(instance))
    shell_path = os.environ.get("SHELL", "/bin/bash")
    argv = [shell_path, "--norc"] if shell_path.endswith("bash") else [shell_path]
    _exec(node_argv(dep, node, argv, {**node_env(dep), "PS1": f"[{instance}:{node}] \\w# "}))


def _exec(argv: list[str]) -> None:
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        raise InfrastructureError(f"cannot run {argv[0]}: {err.strerror}") from None


@app.command()
def run(
    labs: Annotated[list[str] | None, typer.Argument(
        help="Labs to run (default with --all-shipped: every shipped lab).", metavar="LAB...")] = None,
    name: NameOpt = None,
    backend: BackendOpt = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the lab up after the run.")] = False,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
    submission: Annotated[Path | None, typer.Option(
        "--submission", "-s", help="A folder of programs to run instead of the lab's solution/.")] = None,
    all_shipped: Annotated[bool, typer.Option("--all-shipped", help="Run every lab in labs/.")] = False,
) -> None:
    """Bring a lab up, capture, run its scenario, verify the captures, print the report.

    Uses the instance if it is already up (and leaves it up). Every run writes a folder
    runs/<instance>-<timestamp>/ with the plan, step outputs, pcaps and results.json.
    Exit code: 0 every step and expectation met, 1 not, 2 bad input, 3 infrastructure failure.

    Example: socklab run tcp-hello
    """
    from socklab.render import run_failure, run_report, run_verdicts
    from socklab.run import labs_to_run, run_lab

    results = []
    for lab in labs_to_run(list(labs or []), all_shipped, name):
        result = run_lab(lab, name=name, backend=backend, keep=keep, runs_dir=runs_dir, submission=submission)
        results.append(result)
        if result.error:
            _out(run_failure(result), stderr=True)
        if not as_json:
            _out(*run_report(result), "")
    if as_json:
        payload = [r.to_dict() for r in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    elif len(results) > 1:
        _out(*run_verdicts(results))
    codes = [exit_code(r.failure) if r.failure else Exit.OK if r.ok else Exit.FAILED for r in results]
    raise typer.Exit(max(codes))


@app.command()
def grade(
    lab: LabArg,
    submissions: Annotated[list[Path], typer.Argument(
        help="Folders, .zip or .tar.gz files of students' programs.", metavar="SUBMISSION...")],
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="table, json, gradescope, prairielearn, junit or csv.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help=(
        "A file (one submission, or junit/csv), else a folder: one file per submission + summary.csv."))] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", help="Submissions graded in parallel (default: number of cores).", min=0)] = 0,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Grade submissions: each runs sandboxed in a fresh lab instance, is verified and scored.

    The lab's grading: section says which files a submission holds and which steps run them.
    Exit code 0 when grading completed (whatever the scores), 2 bad input, 3 infrastructure failure;
    with --format prairielearn always 0 once the results are written (PrairieLearn ignores them otherwise).

    Examples:
      socklab grade tcp-hello alice/ bob.zip carol.tar.gz
      socklab grade tcp-hello submission/ --format gradescope -o /autograder/results/results.json
    """
    from socklab.grade.batch import grade_many
    from socklab.grade.formats import EXIT_ZERO_AFTER_WRITING
    from socklab.grade.outputs import check_format, write_report
    from socklab.model.loader import load_lab
    from socklab.render import grade_progress, grades_report
    from socklab.runfolder import default_runs_dir

    check_format(fmt)
    loaded = load_lab(lab)
    finished: list = []

    def on_done(g) -> None:
        finished.append(g)
        _out(grade_progress(len(finished), len(submissions), g), stderr=True)

    report = grade_many(loaded, list(submissions), jobs or os.cpu_count() or 1, runs_dir or default_runs_dir(),
                        backend=backend, on_done=on_done)
    written = write_report(report, fmt, output, runs_dir)
    stopped = report.stopped_by
    if stopped is not None and (fmt not in EXIT_ZERO_AFTER_WRITING or not isinstance(stopped, Exception)):
        raise stopped
    if stopped is not None:  # PrairieLearn reads results only after exit 0
        _out(f"socklab: error: {stopped} (results written; exit 0 for {fmt})", stderr=True)
    if written.stdout is not None:
        sys.stdout.write(written.stdout)
    for part, to_stderr in grades_report(report.grades, fmt):
        _out(part, stderr=to_stderr)
    if written.summary is not None:
        _out(f"summary: {written.summary}", stderr=True)
    failed = report.infrastructure_failures and fmt not in EXIT_ZERO_AFTER_WRITING
    raise typer.Exit(Exit.INFRASTRUCTURE if failed else Exit.OK)


@app.command()
def verify(
    folder: Annotated[Path, typer.Argument(help="A run folder (runs/<instance>-<timestamp>).")],
    lab: Annotated[str | None, typer.Argument(
        help="Check against this lab file instead of the run's copy.", metavar="[LAB]")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a run's saved captures and outputs again, without re-running anything.

    Give a LAB to try edited expectations on an old run. Exit code 0 all met, 1 not.
    """
    from socklab.model.loader import load_lab
    from socklab.run import reverify

    result = reverify(folder, load_lab(lab) if lab else None)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        from socklab.render import run_report

        _out(*run_report(result))
    raise typer.Exit(Exit.OK if result.ok else Exit.FAILED)


@app.command()
def capture(
    instance: InstanceArg,
    points: Annotated[list[str] | None, typer.Argument(
        help="NODE or NODE:IFACE, one or more (default: the lab's capture points).", metavar="[NODE[:IFACE]]...")] = None,
    write: Annotated[str | None, typer.Option(
        "--write", "-w", help="Write to FILE, or '-' for stdout: pcap for one point, pcapng for several.")] = None,
    bpf: Annotated[str | None, typer.Option("--filter", "-f", help="A BPF filter, e.g. 'udp port 53'.")] = None,
    count: Annotated[int | None, typer.Option("--count", "-c", help="Stop after this many packets.")] = None,
) -> None:
    """Capture live in a running lab: one wire, or several into one pcapng (an interface per node:iface).

    Without -w, prints one line per packet. Every wire at once in Wireshark:
    socklab capture tcp-hello -w - | wireshark -k -i -
    """
    from socklab.capture.live import live_points, stream, text_lines
    from socklab.deployment import attach, instance_of

    dep = attach(instance_of(instance))
    where = live_points(dep, points or [], bpf)
    if write is None:
        if len(where) == 1:
            from socklab.capture import live_argv

            _exec(live_argv(dep, str(where[0][0]), None, bpf, count))
        text_lines(where, sys.stdout, count)
        return
    def ready() -> None:
        print(f"socklab: capturing on {', '.join(str(p) for p, _ in where)}", file=sys.stderr, flush=True)

    if write == "-":
        stream(where, sys.stdout.buffer, count, on_ready=ready)
    else:
        with open(write, "wb") as out:
            stream(where, out, count, on_ready=ready)


@app.command()
def schema() -> None:
    """Print the lab file's JSON schema (also in schema/lab.schema.json, for editors)."""
    from socklab.model.schema import lab_schema_json

    sys.stdout.write(lab_schema_json())


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be removed.")] = False,
    everything: Annotated[bool, typer.Option("--all", help="Also remove labs that are up.")] = False,
) -> None:
    """Remove what socklab owns that no live lab claims: interrupted `up`s, stray namespaces."""
    from socklab.gc import collect
    from socklab.render import gc_lines

    _out(*gc_lines(collect(dry_run=dry_run, everything=everything), dry_run))


def _sigterm_is_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a timeout's SIGTERM cleans up like Ctrl-C: labs down, results written


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _sigterm_is_interrupt)
    try:
        app()
    except KeyboardInterrupt:  # outside a command (while typer starts or ends)
        print("socklab: interrupted", file=sys.stderr)
        sys.exit(Exit.INTERRUPTED)


if __name__ == "__main__":
    main()
