"""The socklab command line: parse, call the library, render. No logic lives here.

Heavy modules (pyroute2, scapy, docker) are imported inside commands so that
`socklab --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from socklab.errors import SocklabError

app = typer.Typer(
    name="socklab",
    help=(
        "Isolated network labs for socket programming: build a topology of network "
        "namespaces (or containers), run programs in its nodes, capture and verify "
        "what crossed the wires, grade submissions.\n\n"
        "LAB is a folder holding lab.yaml, a lab file, or the name of a shipped lab "
        "(see labs/). Most commands need root."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

LabArg = Annotated[str, typer.Argument(help="A lab folder, a lab.yaml, or a shipped lab's name.", metavar="LAB")]
NameOpt = Annotated[
    str | None, typer.Option("--name", "-n", help="Instance name (default: the lab's name). Two instances of one lab may run side by side.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
BackendOpt = Annotated[
    str | None, typer.Option("--backend", "-b", help="netns (default) or docker; overrides the lab file's backend:.")
]


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # not a terminal (a pipe, CI logs): don't squeeze tables into 80 columns
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, width=width, emoji=False)


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    if debug:
        os.environ["SOCKLAB_DEBUG"] = "1"


@app.command()
def validate(lab: LabArg) -> None:
    """Check a lab file; print a one-line summary, or the first problem with its line.

    Example: socklab validate labs/tcp-hello
    """
    from socklab.model.loader import load_lab

    loaded = load_lab(lab)
    hosts = sum(1 for n in loaded.nodes if n.kind != "switch")
    _console().print(
        f"[green]✓[/] {loaded.source}: lab [bold]{loaded.name}[/], {hosts} host(s)/router(s), "
        f"{len(loaded.nodes) - hosts} switch(es), {len(loaded.links)} link(s), "
        f"{len(loaded.scenario)} step(s), {len(loaded.expect)} expectation(s)"
    )


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

    _console().print(plan_table(result))


@app.command()
def up(lab: LabArg, name: NameOpt = None, backend: BackendOpt = None) -> None:
    """Build the lab's network and leave it running (see `status`, `exec`, `down`).

    Example: socklab up labs/routed --name routed-2
    """
    from socklab.deployment import up as do_up
    from socklab.render import ProgressBars

    with ProgressBars(_console(stderr=True)) as bars:
        deployment = do_up(lab, backend=backend, name=name, progress=bars.update)
    nodes = len(deployment.plan.nodes)
    _console(stderr=True).print(
        f"[green]✓[/] lab instance [bold]{deployment.instance}[/] is up ({nodes} nodes, backend "
        f"{deployment.backend.name}). Try: socklab exec {deployment.instance} "
        f"{deployment.plan.nodes[0].name} -- ip addr"
    )


@app.command()
def down(
    targets: Annotated[list[str], typer.Argument(help="Instance names, or labs (their default instance).", metavar="INSTANCE|LAB...")],
) -> None:
    """Remove lab instances and everything they own (namespaces, links, processes)."""
    from socklab import state
    from socklab.deployment import destroy
    from socklab.errors import UsageError

    for target in targets:
        instance = _instance_of(target)
        record = state.load(instance)
        if record is None:
            raise UsageError(f"no lab instance {instance!r} is up (see `socklab status`)")
        destroy(record)
        _console(stderr=True).print(f"[green]✓[/] {instance} is down")


def _instance_of(target: str) -> str:
    """An instance name as given, or the default instance name of a lab path."""
    from socklab import state

    if state.load(target) is not None or ("/" not in target and not Path(target).exists()):
        return target
    from socklab.model.loader import load_lab

    return load_lab(target).name


@app.command()
def status(
    instance: Annotated[str | None, typer.Argument(help="Show one instance's nodes in detail.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List running lab instances, or one instance's nodes, interfaces, addresses and link state."""
    from socklab import render, state

    if instance is None:
        records = state.all_records()
        if as_json:
            print(json.dumps([render.record_summary(r) for r in records], indent=2))
        else:
            _console().print(render.instances_table(records))
        return
    from socklab.deployment import attach

    deployment = attach(_instance_of(instance))
    data = render.instance_detail(deployment)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        _console().print(render.detail_table(data))


@app.command(
    "exec",
    context_settings={"allow_interspersed_args": False},
)
def exec_(
    instance: Annotated[str, typer.Argument(help="The lab instance.")],
    node: Annotated[str, typer.Argument(help="The node to run in.")],
    command: Annotated[list[str], typer.Argument(help="The command, after --.", metavar="-- CMD...")],
) -> None:
    """Run a command inside a node; its exit code is socklab's.

    Example: socklab exec tcp-hello client -- ping -c1 server
    """
    from socklab.deployment import attach

    if command and command[0] == "--":
        command = command[1:]
    if not command:
        from socklab.errors import UsageError

        raise UsageError("no command given: socklab exec INSTANCE NODE -- CMD...")
    argv = attach(_instance_of(instance)).exec_argv(node, command)
    _exec(argv)


@app.command()
def shell(
    instance: Annotated[str, typer.Argument(help="The lab instance.")],
    node: Annotated[str, typer.Argument(help="The node.")],
) -> None:
    """Open an interactive shell inside a node (exit to leave)."""
    from socklab.deployment import attach

    shell_path = os.environ.get("SHELL", "/bin/bash")
    os.environ["PS1"] = f"[{instance}:{node}] \\w# "
    argv = attach(_instance_of(instance)).exec_argv(node, [shell_path, "--norc"] if shell_path.endswith("bash") else [shell_path])
    _exec(argv)


def _exec(argv: list[str]) -> None:
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        from socklab.errors import InfrastructureError

        raise InfrastructureError(f"cannot run {argv[0]}: {err.strerror}") from None


@app.command()
def run(
    labs: Annotated[list[str] | None, typer.Argument(help="Labs to run (default with --all-shipped: every shipped lab).", metavar="LAB...")] = None,
    name: NameOpt = None,
    backend: BackendOpt = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the lab up after the run.")] = False,
    as_json: JsonOpt = False,
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="Where run folders go (default ./runs or $SOCKLAB_RUNS_DIR).")] = None,
    submission: Annotated[Path | None, typer.Option("--submission", "-s", help="A folder of programs to run instead of the lab's solution/.")] = None,
    all_shipped: Annotated[bool, typer.Option("--all-shipped", help="Run every lab in labs/.")] = False,
) -> None:
    """Bring a lab up, capture, run its scenario, verify the captures, print the report.

    Uses the instance if it is already up (and leaves it up). Every run writes a folder
    runs/<instance>-<timestamp>/ with the plan, step outputs, pcaps and results.json.
    Exit code: 0 every step and expectation met, 1 not, 2 bad input or infrastructure failure.

    Example: socklab run tcp-hello
    """
    from socklab.errors import UsageError
    from socklab.model.loader import load_lab, shipped_labs_dir
    from socklab.run import run_lab

    refs = list(labs or [])
    if all_shipped:
        refs += sorted(p.parent.name for p in shipped_labs_dir().glob("*/lab.yaml"))
    if not refs:
        raise UsageError("name a lab to run (or --all-shipped)")
    if name and len(refs) > 1:
        raise UsageError("--name applies to one lab at a time")
    if submission is not None and not submission.is_dir():
        raise UsageError(f"--submission {submission}: not a folder (socklab grade also takes .zip and .tar.gz)")
    loaded = [load_lab(ref) for ref in refs]
    console = _console()
    results = []
    for lab in loaded:
        result = run_lab(lab, name=name, backend=backend, keep=keep, runs_dir=runs_dir, submission=submission)
        results.append(result)
        if result.error:
            _console(stderr=True).print(f"[red]infrastructure failure[/] in {lab.name}: {result.error}")
        if not as_json:
            from socklab.render import run_report

            for part in run_report(result):
                console.print(part)
            console.print()
    if as_json:
        payload = [r.to_dict() for r in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    if len(results) > 1 and not as_json:
        for r in results:
            console.print(("[green]PASS[/] " if r.ok else "[red]FAIL[/] ") + r.lab)
    if any(r.error for r in results):
        raise typer.Exit(2)
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


@app.command()
def grade(
    lab: LabArg,
    submissions: Annotated[list[Path], typer.Argument(help="Folders, .zip or .tar.gz files of students' programs.", metavar="SUBMISSION...")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, gradescope, prairielearn, junit or csv.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="A file (one submission, or junit/csv), else a folder: one file per submission + summary.csv.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Submissions graded in parallel (default: number of cores).", min=0)] = 0,
    backend: BackendOpt = None,
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="Where run folders go (default ./runs).")] = None,
) -> None:
    """Grade submissions: each runs sandboxed in a fresh lab instance, is verified and scored.

    The lab's grading: section says which files a submission holds and which steps run them.
    Exit code 0 when grading completed (whatever the scores), 2 bad input, 3 infrastructure failure.

    Examples:
      socklab grade tcp-hello alice/ bob.zip carol.tar.gz
      socklab grade tcp-hello submission/ --format gradescope -o /autograder/results/results.json
    """
    from socklab.errors import UsageError
    from socklab.grade.batch import grade_many
    from socklab.grade.formats import EXTENSIONS, FORMATS, render, summary_csv
    from socklab.model.loader import load_lab
    from socklab.render import grade_detail, grades_table
    from socklab.run import default_runs_dir

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    loaded = load_lab(lab)
    err = _console(stderr=True)
    done: list = []

    def on_done(g) -> None:
        done.append(g)
        status = f"{g.score:g}/{g.max_score:g}" if g.gradable else f"not graded: {g.error}"
        err.print(f"[{len(done)}/{len(submissions)}] {g.submission}: {status} ({g.duration:.2f}s)")

    grades = []
    try:
        grades = grade_many(loaded, list(submissions), jobs or os.cpu_count() or 1, runs_dir or default_runs_dir(),
                            backend=backend, on_done=on_done)
    except BaseException as err:
        # results are always written: what was graded, and why the rest was not
        from socklab.grade.score import Grade
        from socklab.grade.submission import submission_name

        graded = {g.submission for g in done}
        reason = f"grading stopped before this submission: {type(err).__name__} {err}".strip()
        grades = list(done) + [Grade(submission=submission_name(p), lab=loaded.name, gradable=False, error=reason)
                               for p in submissions if submission_name(p) not in graded]
        raise
    finally:
        _write_grades(grades, fmt, output, len(submissions), render, summary_csv, EXTENSIONS)
    if fmt == "table":
        console = _console()
        if len(grades) == 1 and grades[0].gradable:
            console.print(grade_detail(grades[0]))
        console.print(grades_table(grades))
    elif len(submissions) > 1:
        err.print(grades_table(grades))
    if len(submissions) > 1 and output is None:
        import time

        summary = (runs_dir or default_runs_dir()) / f"grades-{loaded.name}-{time.strftime('%Y%m%d-%H%M%S')}.csv"
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(summary_csv(grades))
        err.print(f"summary: {summary}")
    infra = [g for g in grades if not g.gradable and g.error and not g.error.startswith("submission ")]
    raise typer.Exit(3 if infra else 0)


def _write_grades(grades, fmt, output, count, render, summary_csv, extensions) -> None:
    if fmt == "table":
        if output is not None:
            Path(output).write_text(summary_csv(grades))
        return
    if output is None:
        sys.stdout.write(render(fmt, grades))
        return
    if count == 1 or fmt in ("junit", "csv"):
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(render(fmt, grades))
        return
    Path(output).mkdir(parents=True, exist_ok=True)
    for g in grades:
        (Path(output) / f"{g.submission}.{extensions[fmt]}").write_text(render(fmt, [g]))
    (Path(output) / "summary.csv").write_text(summary_csv(grades))


@app.command()
def verify(
    folder: Annotated[Path, typer.Argument(help="A run folder (runs/<instance>-<timestamp>).")],
    lab: Annotated[str | None, typer.Argument(help="Check against this lab file instead of the run's copy.", metavar="[LAB]")] = None,
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

        for part in run_report(result):
            _console().print(part)
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def capture(
    instance: Annotated[str, typer.Argument(help="The lab instance.")],
    point: Annotated[str, typer.Argument(help="NODE or NODE:IFACE (default: the node's first interface).", metavar="NODE[:IFACE]")],
    write: Annotated[str | None, typer.Option("--write", "-w", help="Write pcap to FILE, or '-' for stdout.")] = None,
    bpf: Annotated[str | None, typer.Option("--filter", "-f", help="A BPF filter, e.g. 'udp port 53'.")] = None,
    count: Annotated[int | None, typer.Option("--count", "-c", help="Stop after this many packets.")] = None,
) -> None:
    """Capture live on a node interface of a running lab (tcpdump inside the node).

    Without -w, prints one line per packet. Open it in Wireshark while it runs:
    socklab capture tcp-hello server -w - | wireshark -k -i -
    """
    from socklab.capture import tcpdump_argv
    from socklab.deployment import attach
    from socklab.errors import UsageError

    dep = attach(_instance_of(instance))
    node, _, iface = point.partition(":")
    try:
        planned = dep.plan.node(node)
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    names = [i.name for i in planned.interfaces]
    iface = iface or (names[0] if names else "")
    if iface not in names:
        raise UsageError(f"{node} has no interface {iface!r} (it has: {', '.join(names) or 'none'})")
    argv = tcpdump_argv(dep.netns_path(node), iface, write or "-", None, stream=True, count=count)
    if write is None:  # human lines instead of pcap
        argv = [a for a in argv if a not in ("-w", "-", "-U")] + ["-n", "-l"]
    _exec(argv + ([bpf] if bpf else []))


@app.command()
def link(
    instance: Annotated[str, typer.Argument(help="The lab instance.")],
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
    from socklab.deployment import attach
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
    dep = attach(_instance_of(instance))
    change_link(dep.instance, dep.plan, endpoint, action, impair=changes or None, egress=egress)
    shown = change_link(dep.instance, dep.plan, endpoint, "show")
    if as_json:
        print(json.dumps(shown["directions"], indent=2))
    else:
        _console().print(directions_table(shown["directions"]))


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

    report = collect(dry_run=dry_run, everything=everything)
    verb = "would remove" if dry_run else "removed"
    console = _console()
    for instance in report.instances:
        console.print(f"{verb} instance {instance}")
    for orphan in report.orphans:
        console.print(f"{verb} orphan {orphan}")
    if not report.instances and not report.orphans:
        console.print("nothing to collect" + (f" ({len(report.kept)} live instance(s) kept)" if report.kept else ""))


def _sigterm_is_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a timeout's SIGTERM cleans up like Ctrl-C: labs down, results written


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _sigterm_is_interrupt)
    try:
        app()
    except SocklabError as err:
        if os.environ.get("SOCKLAB_DEBUG"):
            raise
        print(f"socklab: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("socklab: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
