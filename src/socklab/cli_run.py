"""`socklab run`, from its parsed arguments to its exit code: typer's command (cli.py) and the
executable's path for `socklab run LAB...` with no option (entry.py) both come here.

Why a path without typer: importing typer and building its command tree cost ~30 ms of a
run's ~0.35 s; the common command line needs neither. Anything else (an option, --help)
goes through typer as before. Nothing here imports typer.
"""

from __future__ import annotations

import signal
from pathlib import Path

from socklab import cli_render as show
from socklab.errors import SocklabError


def run_labs(labs: list[str], *, name: str | None = None, backend: str | None = None, keep: bool = False,
             as_json: bool = False, runs_dir: Path | None = None, submission: Path | None = None,
             all_shipped: bool = False) -> int:
    """Run each lab and print its report as it finishes; the command's exit code."""
    from socklab.exits import run_code
    from socklab.run import labs_to_run, run_lab

    results = []
    for lab in labs_to_run(labs, all_shipped, name):
        results.append(result := run_lab(lab, name=name, backend=backend, keep=keep, runs_dir=runs_dir,
                                         submission=submission, preload=("socklab.render",)))
        show.run_result(result, as_json)
    show.run_results(results, as_json)
    return run_code(results)


def fast_path(args: list[str]) -> bool:
    """Whether entry.py may serve this command line here: `run` and lab names, no option."""
    return len(args) >= 2 and args[0] == "run" and not any(a.startswith("-") for a in args[1:])


def run_without_typer(labs: list[str]) -> int:
    """`socklab run LAB...` as typer's command would do it: the same output, errors and codes."""
    interrupt_on_sigterm()
    try:
        return run_labs(labs)
    except (SocklabError, KeyboardInterrupt) as err:
        return show.error_line(err)


def _sigterm_is_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a timeout's SIGTERM cleans up like Ctrl-C: labs down, results written


def interrupt_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _sigterm_is_interrupt)
