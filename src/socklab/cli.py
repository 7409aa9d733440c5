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

from socklab.errors import InfrastructureError, SocklabError


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

def _arg(help: str, metavar: str | None = None):
    return typer.Argument(help=help, metavar=metavar)


def _opt(*names: str, help: str, **kw):
    return typer.Option(*names, help=help, **kw)


LabArg = Annotated[str, _arg("A lab folder, a lab.yaml, or a shipped lab's name.", "LAB")]
InstanceArg = Annotated[str, _arg("The lab instance (or a lab: its default instance).")]
NodeArg = Annotated[str, _arg("The node.")]
NameOpt = Annotated[str | None, _opt("--name", "-n", help=(
    "Instance name (default: the lab's name). Two instances of one lab may run side by side."))]
JsonOpt = Annotated[bool, _opt("--json", help="Print JSON instead of a table.")]
BackendOpt = Annotated[str | None, _opt("--backend", "-b", help="netns (default) or docker; overrides the lab's backend:.")]
RunsDirOpt = Annotated[Path | None, _opt("--runs-dir", help="Where run folders go (default ./runs or $SOCKLAB_RUNS_DIR).")]


def _out(*parts: object, stderr: bool = False) -> None:
    from socklab.render import console

    out = console(stderr=stderr)
    for part in parts:
        out.print(part)


def _json(data: object) -> None:
    print(json.dumps(data, indent=2))


def _exec(argv: list[str]) -> None:
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        raise InfrastructureError(f"cannot run {argv[0]}: {err.strerror}") from None


def _attach(target: str):
    from socklab.deployment import attach, instance_of

    return attach(instance_of(target))


@app.callback()
def _root(ctx: typer.Context, debug: Annotated[bool, _opt("--debug", help="Show tracebacks for errors.")] = False) -> None:
    ctx.meta["socklab.debug"] = debug


@app.command()
def validate(lab: LabArg) -> None:
    """Check a lab file; print a one-line summary, or the first problem with its line."""
    from socklab.model.loader import load_lab
    from socklab.render import lab_summary

    _out(lab_summary(load_lab(lab)))


@app.command()
def plan(lab: LabArg, name: NameOpt = None, as_json: JsonOpt = False) -> None:
    """Print every kernel object the lab needs (namespaces, interfaces, MACs, addresses, routes):
    the same lab file and instance name give the same plan, byte for byte."""
    from socklab.model.loader import load_lab
    from socklab.plan import make_plan
    from socklab.render import plan_table

    result = make_plan(load_lab(lab), name)
    print(result.to_json()) if as_json else _out(plan_table(result))


@app.command()
def up(lab: LabArg, name: NameOpt = None, backend: BackendOpt = None) -> None:
    """Build the lab's network and leave it running (see `status`, `exec`, `down`)."""
    from socklab.deployment import up as do_up
    from socklab.render import ProgressBars, console, up_summary

    with ProgressBars(console(stderr=True)) as bars:
        deployment = do_up(lab, backend=backend, name=name, progress=bars.update)
    _out(up_summary(deployment), stderr=True)


@app.command()
def down(targets: Annotated[list[str], _arg("Instance names, or labs (their default instance).", "INSTANCE|LAB...")]) -> None:
    """Remove lab instances and everything they own (namespaces, links, processes)."""
    from socklab.deployment import take_down

    for target in targets:
        _out(f"[green]✓[/] {take_down(target)} is down", stderr=True)


@app.command()
def status(instance: Annotated[str | None, _arg("Show one instance's nodes in detail.")] = None,
           as_json: JsonOpt = False) -> None:
    """List running lab instances, or one instance's nodes, interfaces, addresses and link state."""
    from socklab import render, state

    if instance is None:
        records = state.all_records()
        data, table = [render.record_summary(r) for r in records], render.instances_table(records)
    else:
        data = render.instance_detail(_attach(instance))
        table = render.detail_table(data)
    _json(data) if as_json else _out(table)


@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_(instance: InstanceArg, node: NodeArg,
          command: Annotated[list[str], _arg("The command, after --.", "-- CMD...")]) -> None:
    """Run a command in a node, in the environment scenario steps get; its exit code is socklab's.

    Example: socklab exec tcp-hello client -- ping -c1 server
    """
    from socklab.steps import command_argv, user_command

    command = user_command(command)  # before attaching: "no command" is the first thing to say
    _exec(command_argv(_attach(instance), node, command))


@app.command()
def shell(instance: InstanceArg, node: NodeArg) -> None:
    """Open an interactive shell in a node, in the environment scenario steps get (exit to leave)."""
    from socklab.steps import shell_argv

    _exec(shell_argv(_attach(instance), node, os.environ.get("SHELL", "/bin/bash")))


@app.command()
def run(
    labs: Annotated[list[str] | None, _arg("Labs to run (with --all-shipped: also every shipped lab).", "LAB...")] = None,
    name: NameOpt = None,
    backend: BackendOpt = None,
    keep: Annotated[bool, _opt("--keep", help="Leave the lab up after the run.")] = False,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
    submission: Annotated[Path | None, _opt("--submission", "-s", help=(
        "A folder of programs to run instead of the lab's solution/."))] = None,
    all_shipped: Annotated[bool, _opt("--all-shipped", help="Run every lab in labs/.")] = False,
) -> None:
    """Bring a lab up, capture, run its scenario, verify the captures, print the report.

    Uses the instance if it is already up (and leaves it up). Every run writes a folder
    runs/<instance>-<timestamp>/ with the plan, step outputs, pcaps and results.json.
    Exit code: 0 every step and expectation met, 1 not, 2 bad input or not gradable (a capture
    lost packets: its checks are "not graded"), 3 infrastructure failure.

    Example: socklab run tcp-hello
    """
    from socklab.render import run_failure, run_report, run_verdicts
    from socklab.run import labs_to_run, run_lab

    results = []
    for lab in labs_to_run(list(labs or []), all_shipped, name):
        results.append(result := run_lab(lab, name=name, backend=backend, keep=keep, runs_dir=runs_dir,
                                         submission=submission))
        if result.error:
            _out(run_failure(result), stderr=True)
        if not as_json:
            _out(*run_report(result), "")
    if as_json:
        _json(results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results])
    elif len(results) > 1:
        _out(*run_verdicts(results))
    codes = [exit_code(r.failure) if r.failure else Exit.OK if r.ok else Exit.NOT_GRADABLE if r.incomplete
             else Exit.FAILED for r in results]
    raise typer.Exit(max(codes))


@app.command()
def grade(
    lab: LabArg,
    submissions: Annotated[list[Path], _arg("Folders, .zip or .tar.gz files of students' programs.", "SUBMISSION...")],
    fmt: Annotated[str, _opt("--format", "-f", help="table, json, gradescope, prairielearn, junit or csv.")] = "table",
    output: Annotated[Path | None, _opt("--output", "-o", help=(
        "A file (one submission, or junit/csv), else a folder: one file per submission + summary.csv."))] = None,
    jobs: Annotated[int, _opt("--jobs", "-j", min=0, help="Submissions graded in parallel (default: number of cores).")] = 0,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Grade submissions: each runs sandboxed in a fresh lab instance, is verified and scored.

    The lab's grading: section says which files a submission holds and which steps run them.
    Exit code 0 when grading completed (whatever the scores), 2 bad input, 3 infrastructure failure;
    with --format prairielearn always 0 once the results are written (PrairieLearn ignores them otherwise).

    Example: socklab grade tcp-hello submission/ --format gradescope -o /autograder/results/results.json
    """
    from socklab.grade.batch import grade_many
    from socklab.grade.outputs import check_format, write_report
    from socklab.model.loader import load_lab
    from socklab.render import grade_progress, grades_report
    from socklab.runfolder import default_runs_dir

    check_format(fmt)
    finished: list = []

    def on_done(g) -> None:
        finished.append(g)
        _out(grade_progress(len(finished), len(submissions), g), stderr=True)

    report = grade_many(load_lab(lab), list(submissions), jobs or os.cpu_count() or 1, runs_dir or default_runs_dir(),
                        backend=backend, on_done=on_done)
    written = write_report(report, fmt, output, runs_dir)
    stopped = report.stopped_by
    if stopped is not None and not (written.exit_zero and isinstance(stopped, Exception)):
        raise stopped
    if stopped is not None:  # PrairieLearn reads results only after exit 0
        _out(f"socklab: error: {stopped} (results written; exit 0 for {fmt})", stderr=True)
    if written.stdout is not None:
        sys.stdout.write(written.stdout)
    for part, to_stderr in grades_report(report.grades, fmt):
        _out(part, stderr=to_stderr)
    if written.summary is not None:
        _out(f"summary: {written.summary}", stderr=True)
    raise typer.Exit(Exit.INFRASTRUCTURE if report.infrastructure_failures and not written.exit_zero else Exit.OK)


@app.command()
def selftest(
    labs: Annotated[list[str], typer.Argument(
        help="Labs to check (folders, lab.yaml files or shipped names).", metavar="LAB...")],
    as_json: JsonOpt = False,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", help="Submissions graded in parallel (default: number of cores).", min=0)] = 0,
    backend: BackendOpt = None,
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="Keep the run folders here (default: discarded).")] = None,
) -> None:
    """Check a lab's grading: its solution gets full marks, each mutant loses exactly what its expect.yaml says.

    Mutants are labs/<lab>/mutants/<name>/ (the mutated files and an expect.yaml). Prints a
    verdict matrix per lab. Exit code 0 when everything is as expected, 1 when not.

    Example: socklab selftest tcp-hello udp-hello --jobs 4
    """
    from socklab.grade.selftest import selftest as run_selftest
    from socklab.model.loader import load_lab
    from socklab.render import selftest_progress, selftest_tables

    loaded = [load_lab(lab) for lab in labs]
    on_done = None if as_json else (lambda outcome: _out(selftest_progress(outcome), stderr=True))
    report = run_selftest(loaded, jobs or os.cpu_count() or 1, runs_dir, backend, on_done=on_done)
    if as_json:
        _json(report.to_dict())
    else:
        _out(*selftest_tables(report))
    raise typer.Exit(Exit.OK if report.ok else Exit.FAILED)


@app.command()
def verify(folder: Annotated[Path, _arg("A run folder (runs/<instance>-<timestamp>).")],
           lab: Annotated[str | None, _arg("Check against this lab file instead of the run's copy.", "[LAB]")] = None,
           as_json: JsonOpt = False) -> None:
    """Check a run's saved captures and outputs again, without re-running anything (give a LAB to
    try edited expectations on an old run). Exit code 0 all met, 1 not, 2 not gradable (a capture lost
    packets: its checks are "not graded")."""
    from socklab.model.loader import load_lab
    from socklab.render import run_report
    from socklab.run import reverify

    result = reverify(folder, load_lab(lab) if lab else None)
    _json(result.to_dict()) if as_json else _out(*run_report(result))
    raise typer.Exit(Exit.OK if result.ok else Exit.NOT_GRADABLE if result.incomplete else Exit.FAILED)


@app.command()
def graph(
    lab: LabArg,
    fmt: Annotated[str | None, _opt("--format", "-f", help="svg, png, mermaid or dot (default: from -o's suffix, else svg).")] = None,
    output: Annotated[Path | None, _opt("--output", "-o", help="Write to FILE instead of stdout.")] = None,
) -> None:
    """Draw a lab's topology from its lab file alone: no root, nothing is brought up.

    Hosts, routers and switches get distinct shapes; interfaces show their addresses,
    links their subnets. PNG is rendered by headless Chromium (if installed).

    Examples: socklab graph routed -o routed.svg    socklab graph tcp-hello -f mermaid
    """
    from socklab.errors import UsageError
    from socklab.model.loader import load_lab
    from socklab.report.graph import choose_format, render_graph

    chosen = choose_format(fmt, output)
    if chosen == "png" and output is None and sys.stdout.isatty():
        raise UsageError("a PNG is binary: give -o FILE.png (or pipe the output)")
    data = render_graph(load_lab(lab), chosen)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)


@app.command()
def report(
    folder: Annotated[Path, _arg("A run folder (runs/<instance>-<timestamp>).")],
    open_: Annotated[bool, _opt("--open", help="Open it in a browser (without one, print where it is).")] = False,
    everything: Annotated[bool, _opt("--all", help="Include checks a graded run's page hides from students.")] = False,
) -> None:
    """(Re)build a run folder's report.html: topology, timeline, packet ladders, expectations.

    run, grade and verify write it already; this rebuilds it (e.g. after an upgrade) from
    the folder's files. The page is self-contained: it works offline and can be mailed. A
    graded run's page leaves out the checks grading.visibility hides (--all keeps them).
    """
    from socklab.report import write_report

    path = write_report(folder, everything=everything)
    print(path)
    if open_:
        from socklab.report.opener import open_in_browser

        if not open_in_browser(path):
            _out(f"no browser to open here: open {path.as_uri()} yourself", stderr=True)


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

    dep = _attach(instance)
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
def link(
    instance: InstanceArg,
    endpoint: Annotated[str, typer.Argument(help="An end of the link, NODE:IFACE.", metavar="NODE:IFACE")],
    action: Annotated[str, typer.Argument(help="show, set, down, up or reset.", metavar="show|set|down|up|reset")] = "show",
    delay: Annotated[str | None, typer.Option(help="e.g. 50ms")] = None,
    jitter: Annotated[str | None, typer.Option(help="e.g. 5ms (uniform, ±)")] = None,
    loss: Annotated[str | None, typer.Option(help="e.g. 2%")] = None,
    duplicate: Annotated[str | None, typer.Option(help="e.g. 1%")] = None,
    reorder: Annotated[str | None, typer.Option(help="e.g. 5%")] = None,
    corrupt: Annotated[str | None, typer.Option(help="e.g. 1%")] = None,
    rate: Annotated[str | None, typer.Option(help="e.g. 1mbit")] = None,
    egress: Annotated[bool, typer.Option("--egress", help="Only frames leaving NODE:IFACE (default: both directions).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show or change an impaired link of a running lab: set impairments, take it down or up, reset it.

    Example: socklab link reliable-udp client:eth0 set --delay 50ms --loss 2%
    """
    from socklab.errors import UsageError
    from socklab.impair.lifecycle import change_link, parse_changes
    from socklab.impair.render import directions_table

    if action not in ("show", "set", "down", "up", "reset"):
        raise UsageError(f"unknown action {action!r}: use show, set, down, up or reset")
    values = {"delay": delay, "jitter": jitter, "loss": loss, "duplicate": duplicate, "reorder": reorder,
              "corrupt": corrupt, "rate": rate}
    changes = parse_changes(values)
    if action == "set" and not changes:
        raise UsageError("set needs at least one of --delay --jitter --loss --duplicate --reorder --corrupt --rate")
    if action != "set" and changes:
        raise UsageError(f"--delay, --loss... go with set, not {action}")
    dep = _attach(instance)
    change_link(dep.instance, dep.plan, endpoint, action, impair=changes or None, egress=egress)
    shown = change_link(dep.instance, dep.plan, endpoint, "show")
    if as_json:
        _json(shown["directions"])
    else:
        _out(directions_table(shown["directions"]))


@app.command()
def schema() -> None:
    """Print the lab file's JSON schema (also in schema/lab.schema.json, for editors)."""
    from socklab.model.schema import lab_schema_json

    sys.stdout.write(lab_schema_json())


@app.command()
def gc(dry_run: Annotated[bool, _opt("--dry-run", help="Only show what would be removed.")] = False,
       everything: Annotated[bool, _opt("--all", help="Also remove labs that are up.")] = False) -> None:
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
