"""The pieces cli.py delegates to: outcome -> exit code (exits.py), link's request check, graph's
destination check, and the options/help modules staying free of the library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from socklab import errors
from socklab.exits import Exit, grade_code, grade_stop, run_code, selftest_code, verdict_code

SRC = Path(__file__).resolve().parents[2] / "src"


def result(ok=False, incomplete=False, failure=None):
    return NS(ok=ok, incomplete=incomplete, failure=failure)


def test_verdicts_and_runs():
    assert verdict_code(result(ok=True)) == Exit.OK
    assert verdict_code(result()) == Exit.FAILED
    assert verdict_code(result(incomplete=True)) == Exit.NOT_GRADABLE
    assert run_code([result(ok=True), result()]) == Exit.FAILED
    assert run_code([result(ok=True), result(incomplete=True)]) == 2
    assert run_code([result(), result(failure=errors.InfrastructureError("x"))]) == 3
    assert run_code([result(failure=KeyboardInterrupt())]) == 130
    assert selftest_code(NS(ok=True)) == 0 and selftest_code(NS(ok=False)) == 1


def test_grade_codes_and_stops():
    broken, fine = NS(infrastructure_failures=1, stopped_by=None), NS(infrastructure_failures=0, stopped_by=None)
    plain, prairie = NS(exit_zero=False), NS(exit_zero=True)
    assert grade_code(broken, plain) == Exit.INFRASTRUCTURE and grade_code(broken, prairie) == Exit.OK
    assert grade_code(fine, plain) == Exit.OK
    assert grade_stop(fine, plain) is None
    err, ctrl_c = errors.InfrastructureError("engine down"), KeyboardInterrupt()
    assert grade_stop(NS(stopped_by=err), plain) is err
    assert grade_stop(NS(stopped_by=err), prairie) is None  # results written, exit 0 for PrairieLearn
    assert grade_stop(NS(stopped_by=ctrl_c), prairie) is ctrl_c


def test_link_changes():
    from socklab.impair.lifecycle import link_changes

    none = dict.fromkeys(("delay", "jitter", "loss", "duplicate", "reorder", "corrupt", "rate"))
    assert link_changes("show", none) == {}
    assert link_changes("set", {**none, "delay": "50ms"}) == {"delay": 0.05}
    with pytest.raises(errors.UsageError, match="unknown action 'bogus'"):
        link_changes("bogus", none)
    with pytest.raises(errors.UsageError, match="set needs at least one"):
        link_changes("set", none)
    with pytest.raises(errors.UsageError, match="go with set, not down"):
        link_changes("down", {**none, "loss": "2%"})


def test_png_is_not_written_to_a_terminal():
    from socklab.report.graph import check_destination

    check_destination("png", Path("x.png"), tty=True)
    check_destination("png", None, tty=False)
    check_destination("svg", None, tty=True)
    with pytest.raises(errors.UsageError, match="a PNG is binary"):
        check_destination("png", None, tty=True)


def test_the_cli_modules_import_no_library():
    probe = ("import sys, socklab.cli; heavy = {'rich', 'pydantic', 'scapy', 'pyroute2', 'yaml', 'socklab.model'};"
             "print(sorted(heavy & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
