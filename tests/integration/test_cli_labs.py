"""The commands that need a lab, in process (typer's CliRunner) where they return, and as a
process where they replace themselves (exec, shell, capture exec the command they run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from socklab.cli import app
from tests.conftest import LABS, needs_root

pytestmark = [needs_root]
RUNNER = CliRunner()
CLI = [sys.executable, "-m", "socklab.cli"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def socklab(*args: object):
    return RUNNER.invoke(app, [str(a) for a in args])


def test_up_status_down(tmp_path: Path):
    r = socklab("up", "tcp-hello", "--name", "t-cli-up")
    try:
        assert r.exit_code == 0 and "lab instance t-cli-up is up (2 nodes, backend netns)" in r.stderr
        again = socklab("up", "tcp-hello", "--name", "t-cli-up")
        assert again.exit_code == 2 and "already" in again.stderr
        listing = socklab("status", "--json")
        assert listing.exit_code == 0 and "t-cli-up" in [i["instance"] for i in json.loads(listing.stdout)]
        detail = socklab("status", "t-cli-up", "--json")
        nodes = {n["name"]: n for n in json.loads(detail.stdout)["nodes"]}
        assert detail.exit_code == 0 and nodes["server"]["running"] and nodes["client"]["interfaces"]
        table = socklab("status", "t-cli-up")
        assert table.exit_code == 0 and "t-cli-up (lab tcp-hello, netns, up)" in table.stdout
    finally:
        down = socklab("down", "t-cli-up")
    assert down.exit_code == 0 and "t-cli-up is down" in down.stderr
    assert socklab("down", "t-cli-up").exit_code == 2


def test_exec_and_shell_get_the_environment_of_scenario_steps(tmp_path: Path):
    """A python3 first on the caller's PATH (pyenv, conda) must not be the one nodes run."""
    decoy = tmp_path / "bin"
    decoy.mkdir()
    (decoy / "python3").write_text("#!/bin/sh\necho decoy python >&2\nexit 42\n")
    (decoy / "python3").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src"), "PATH": f"{decoy}:{os.environ['PATH']}"}
    subprocess.run([*CLI, "up", "tcp-hello", "--name", "t-cli-env"], env=env, check=True, capture_output=True)
    try:
        probe = "import scapy, socklab.agents, os; print('imports ok', os.environ['PYTHONUNBUFFERED'])"
        r = subprocess.run([*CLI, "exec", "t-cli-env", "client", "--", "python3", "-c", probe], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "imports ok 1", r.stderr
        code = subprocess.run([*CLI, "exec", "t-cli-env", "client", "--", "sh", "-c", "exit 7"], env=env,
                              capture_output=True, timeout=60)
        assert code.returncode == 7  # the command's exit code is socklab's
        sh = subprocess.run([*CLI, "shell", "t-cli-env", "server"], env={**env, "SHELL": "/bin/sh"},
                            input='python3 -c "import scapy; print(42)"\n', capture_output=True, text=True, timeout=60)
        assert sh.returncode == 0 and sh.stdout.strip().endswith("42"), sh.stderr
        unknown = socklab("exec", "t-cli-env", "nobody", "--", "true")
        assert unknown.exit_code == 2 and "no node 'nobody'" in unknown.stderr
        bad_iface = socklab("capture", "t-cli-env", "server:eth9")
        assert bad_iface.exit_code == 2 and "server has no interface 'eth9' (it has: eth0)" in bad_iface.stderr
    finally:
        subprocess.run([*CLI, "down", "t-cli-env"], env=env, capture_output=True)


def test_run_then_verify_exit_codes(tmp_path: Path):
    ok = socklab("run", "tcp-hello", "--name", "t-cli-run", "--runs-dir", tmp_path / "good")
    assert ok.exit_code == 0 and "PASS tcp-hello" in ok.stdout, ok.output
    folder = next((tmp_path / "good").iterdir())
    again = socklab("verify", folder, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["ok"] is True
    broken = FIXTURES / "broken" / "tcp-hello" / "wrong-payload"
    bad = socklab("run", "tcp-hello", "--name", "t-cli-run", "-s", broken, "--runs-dir", tmp_path / "bad")
    assert bad.exit_code == 1 and "FAIL tcp-hello" in bad.stdout
    failing = socklab("verify", next((tmp_path / "bad").iterdir()))
    assert failing.exit_code == 1 and "FAIL" in failing.stdout


def test_grade_exit_codes_and_outputs(tmp_path: Path):
    good = LABS / "tcp-hello" / "solution"
    out = tmp_path / "grades"
    r = socklab("grade", "tcp-hello", good, tmp_path / "nothing-here", "-f", "gradescope", "-o", out,
                "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 0, r.output  # a missing submission is the student's problem, not socklab's
    assert "[2/2]" in r.stderr and "not graded: submission" in r.stderr
    solution = json.loads((out / "solution.json").read_text())
    full = sum(t["max_score"] for t in solution["tests"])
    assert full > 0 and solution["score"] == full, [t["output"] for t in solution["tests"] if t["status"] != "passed"]
    assert "no such file or folder" in json.loads((out / "nothing-here.json").read_text())["output"]
    assert (out / "summary.csv").read_text().splitlines()[1].startswith(f"solution,{full:g},{full:g},True")
    table = socklab("grade", "tcp-hello", good, "--runs-dir", tmp_path / "runs")
    assert table.exit_code == 0 and f"solution: {full:g}/{full:g}" in table.stdout


def test_gc_dry_run_only_reports():
    r = socklab("gc", "--dry-run")
    assert r.exit_code == 0 and r.stdout.strip()
    assert all(line.startswith(("would remove", "nothing to collect")) for line in r.stdout.splitlines())
