"""The socklab command line: parse, call the library, render. No logic lives here.

Options and help texts: cli_options.py, cli_help.py; output and errors: cli_render.py (`Errors`
below has it say a SocklabError and its code); exit codes: exits.py; `run`'s work: cli_run.py.
The library is imported inside commands only.
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext

import typer
from typer.core import TyperGroup

from socklab import cli_options as o
from socklab import cli_render as show
from socklab.cli_help import HELP
from socklab.cli_run import interrupt_on_sigterm, run_labs
from socklab.errors import SocklabError
from socklab.exits import EXIT_CODES, Exit, exit_code

__all__ = ["EXIT_CODES", "Exit", "app", "exit_code", "main"]


class Errors(TyperGroup):
    """Turns a SocklabError into one line on stderr and its exit code (--debug: the traceback)."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (SocklabError, KeyboardInterrupt) as err:
            if ctx.meta.get("socklab.debug"):
                raise
            raise typer.Exit(show.error_line(err)) from None


app = typer.Typer(
    name="socklab", cls=Errors, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]}, help=o.ROOT_HELP,
)


def _attach(target: str):
    from socklab.deployment import attach, instance_of

    return attach(instance_of(target))


@app.callback()
def _root(ctx: typer.Context, debug: o.DebugOpt = False) -> None:
    ctx.meta["socklab.debug"] = debug


@app.command(help=HELP["validate"])
def validate(lab: o.LabArg) -> None:
    from socklab.model.loader import load_lab
    from socklab.render import lab_summary

    show.out(lab_summary(load_lab(lab)))


@app.command(help=HELP["plan"])
def plan(lab: o.LabArg, name: o.NameOpt = None, as_json: o.JsonOpt = False) -> None:
    from socklab.model.loader import load_lab
    from socklab.plan import make_plan
    from socklab.render import plan_table

    result = make_plan(load_lab(lab), name)
    print(result.to_json()) if as_json else show.out(plan_table(result))


@app.command(help=HELP["up"])
def up(lab: o.LabArg, name: o.NameOpt = None, backend: o.BackendOpt = None) -> None:
    from socklab.deployment import up as do_up
    from socklab.render import ProgressBars, console, up_summary

    with ProgressBars(console(stderr=True)) as bars:
        deployment = do_up(lab, backend=backend, name=name, progress=bars.update)
    show.out(up_summary(deployment), stderr=True)


@app.command(help=HELP["down"])
def down(targets: o.DownTargets) -> None:
    from socklab.deployment import take_down

    for target in targets:
        show.out(f"[green]✓[/] {take_down(target)} is down", stderr=True)


@app.command(help=HELP["status"])
def status(instance: o.StatusArg = None, as_json: o.JsonOpt = False) -> None:
    from socklab import state

    show.status(None if instance else state.all_records(), _attach(instance) if instance else None, as_json)


@app.command("exec", help=HELP["exec"], context_settings={"allow_interspersed_args": False})
def exec_(instance: o.InstanceArg, node: o.NodeArg, command: o.CommandArg) -> None:
    from socklab.steps import command_argv, user_command

    command = user_command(command)  # before attaching: "no command" is the first thing to say
    show.exec_(command_argv(_attach(instance), node, command))


@app.command(help=HELP["shell"])
def shell(instance: o.InstanceArg, node: o.NodeArg) -> None:
    from socklab.steps import shell_argv

    show.exec_(shell_argv(_attach(instance), node, os.environ.get("SHELL", "/bin/bash")))


@app.command(help=HELP["run"])
def run(labs: o.RunLabs = None, name: o.NameOpt = None, backend: o.BackendOpt = None, keep: o.KeepOpt = False,
        as_json: o.JsonOpt = False, runs_dir: o.RunsDirOpt = None, submission: o.SubmissionOpt = None,
        all_shipped: o.AllShippedOpt = False) -> None:
    raise typer.Exit(run_labs(list(labs or []), name=name, backend=backend, keep=keep, as_json=as_json,
                              runs_dir=runs_dir, submission=submission, all_shipped=all_shipped))


@app.command(help=HELP["grade"])
def grade(lab: o.LabArg, submissions: o.Submissions, fmt: o.GradeFormatOpt = "table", output: o.GradeOutputOpt = None,
          jobs: o.JobsOpt = 0, backend: o.BackendOpt = None, runs_dir: o.RunsDirOpt = None) -> None:
    from socklab.exits import grade_code, grade_stop
    from socklab.grade.batch import grade_many
    from socklab.grade.outputs import check_format, write_report
    from socklab.model.loader import load_lab
    from socklab.runfolder import default_runs_dir

    check_format(fmt)
    finished: list = []

    def on_done(g) -> None:
        finished.append(g)
        show.grade_progress(len(finished), len(submissions), g)

    report = grade_many(load_lab(lab), list(submissions), jobs or os.cpu_count() or 1, runs_dir or default_runs_dir(),
                        backend=backend, on_done=on_done)
    written = write_report(report, fmt, output, runs_dir)
    if (stop := grade_stop(report, written)) is not None:
        raise stop
    show.grades(report, written, fmt)
    raise typer.Exit(grade_code(report, written))


@app.command(help=HELP["selftest"])
def selftest(labs: o.SelftestLabs, as_json: o.JsonOpt = False, jobs: o.JobsOpt = 0, backend: o.BackendOpt = None,
             runs_dir: o.SelftestRunsDirOpt = None) -> None:
    from socklab.exits import selftest_code
    from socklab.grade.selftest import selftest as run_selftest
    from socklab.model.loader import load_lab

    loaded = [load_lab(lab) for lab in labs]
    report = run_selftest(loaded, jobs or os.cpu_count() or 1, runs_dir, backend, on_done=None if as_json else show.selftest_progress)
    show.selftest(report, as_json)
    raise typer.Exit(selftest_code(report))


@app.command(help=HELP["verify"])
def verify(folder: o.FolderArg, lab: o.VerifyLabArg = None, as_json: o.JsonOpt = False) -> None:
    from socklab.exits import verdict_code
    from socklab.model.loader import load_lab
    from socklab.run import reverify

    result = reverify(folder, load_lab(lab) if lab else None)
    show.verify_result(result, as_json)
    raise typer.Exit(verdict_code(result))


@app.command(help=HELP["graph"])
def graph(lab: o.LabArg, fmt: o.GraphFormatOpt = None, output: o.GraphOutputOpt = None) -> None:
    from socklab.model.loader import load_lab
    from socklab.report.graph import check_destination, choose_format, render_graph

    chosen = choose_format(fmt, output)
    check_destination(chosen, output, sys.stdout.isatty())
    show.data(render_graph(load_lab(lab), chosen), output)


@app.command(help=HELP["report"])
def report(folder: o.FolderArg, open_: o.OpenOpt = False, everything: o.ReportAllOpt = False) -> None:
    from socklab.report import write_report

    path = write_report(folder, everything=everything)
    print(path)
    if open_:
        from socklab.report.opener import open_in_browser

        show.opened(path, open_in_browser(path))


@app.command(help=HELP["capture"])
def capture(instance: o.InstanceArg, points: o.CapturePoints = None, write: o.WriteOpt = None, bpf: o.FilterOpt = None,
            count: o.CountOpt = None) -> None:
    from socklab.capture.live import live_points, stream, text_lines

    dep = _attach(instance)
    where = live_points(dep, points or [], bpf)
    if write is None:
        if len(where) == 1:
            from socklab.capture import live_argv

            show.exec_(live_argv(dep, str(where[0][0]), None, bpf, count))
        text_lines(where, sys.stdout, count)
    else:
        with nullcontext(sys.stdout.buffer) if write == "-" else open(write, "wb") as out:
            stream(where, out, count, on_ready=lambda: show.capturing(where))


@app.command(help=HELP["link"])
def link(instance: o.InstanceArg, endpoint: o.EndpointArg, action: o.ActionArg = "show", delay: o.DelayOpt = None,
         jitter: o.JitterOpt = None, loss: o.LossOpt = None, duplicate: o.DuplicateOpt = None, reorder: o.ReorderOpt = None,
         corrupt: o.CorruptOpt = None, rate: o.RateOpt = None, egress: o.EgressOpt = False, as_json: o.JsonOpt = False) -> None:
    from socklab.impair.lifecycle import change_link, link_changes

    changes = link_changes(action, {"delay": delay, "jitter": jitter, "loss": loss, "duplicate": duplicate,
                                    "reorder": reorder, "corrupt": corrupt, "rate": rate})
    dep = _attach(instance)
    change_link(dep.instance, dep.plan, endpoint, action, impair=changes or None, egress=egress)
    show.link(change_link(dep.instance, dep.plan, endpoint, "show"), as_json)


@app.command(help=HELP["schema"])
def schema() -> None:
    from socklab.model.schema import lab_schema_json

    sys.stdout.write(lab_schema_json())


@app.command(help=HELP["gc"])
def gc(dry_run: o.DryRunOpt = False, everything: o.GcAllOpt = False) -> None:
    from socklab.gc import collect
    from socklab.render import gc_lines

    show.out(*gc_lines(collect(dry_run=dry_run, everything=everything), dry_run))


def main() -> None:
    interrupt_on_sigterm()
    try:
        app()
    except KeyboardInterrupt:  # outside a command (while typer starts or ends)
        print("socklab: interrupted", file=sys.stderr)
        sys.exit(Exit.INTERRUPTED)


if __name__ == "__main__":
    main()
