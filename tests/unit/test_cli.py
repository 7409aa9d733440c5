"""Every command's exit codes and messages, in process (typer's CliRunner), where no lab must be up.

Commands that build labs are exercised the same way in tests/integration/test_cli.py.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socklab import errors
from socklab.cli import EXIT_CODES, Exit, app, exit_code

RUNNER = CliRunner()
LAB = textwrap.dedent("""
    name: cli-lab
    nodes:
      a: {ip: 10.0.0.1/24}
      b: {ip: 10.0.0.2/24}
    links: [[a:eth0, b:eth0]]
    scenario:
      - {node: a, run: "true"}
""")


def socklab(*args: str):
    return RUNNER.invoke(app, [str(a) for a in args])


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(LAB)
    return path


def test_the_exit_code_table():
    assert exit_code(None) == Exit.OK == 0
    assert exit_code(errors.LabFileError("x.yaml", "bad")) == exit_code(errors.UsageError("x")) == Exit.BAD_INPUT == 2
    assert exit_code(errors.SubmissionError("submission s: cannot unpack")) == 2
    assert exit_code(errors.InfrastructureError("x")) == exit_code(errors.StateError("x")) == Exit.INFRASTRUCTURE == 3
    assert exit_code(KeyboardInterrupt()) == Exit.INTERRUPTED == 130
    assert Exit.NOT_GRADABLE == Exit.BAD_INPUT  # issue 9: a run whose captures lost packets
    kinds = [kind for kind, _ in EXIT_CODES]
    for i, kind in enumerate(kinds):  # subclasses before their bases, or they never match
        assert not any(issubclass(kind, base) for base in kinds[:i]), kind


def test_validate(lab_file: Path, tmp_path: Path):
    ok = socklab("validate", lab_file)
    assert ok.exit_code == 0 and "lab cli-lab, 2 host(s)/router(s), 0 switch(es), 1 link(s), 1 step(s)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(LAB.replace("b:eth0]]", "c:eth0]]"))
    r = socklab("validate", bad)
    assert r.exit_code == 2 and r.stderr.startswith(f"socklab: error: {bad}:") and "unknown node 'c'" in r.stderr
    r = socklab("validate", tmp_path / "nothing")
    assert r.exit_code == 2 and "no such lab file or folder (shipped labs: " in r.stderr


def test_plan(lab_file: Path):
    r = socklab("plan", lab_file, "--json")
    assert r.exit_code == 0 and [n["name"] for n in json.loads(r.stdout)["nodes"]] == ["a", "b"]
    r = socklab("plan", lab_file, "--name", "Not_A_Name")
    assert r.exit_code == 2 and "socklab: error:" in r.stderr
    table = socklab("plan", lab_file)
    assert table.exit_code == 0 and "plan for lab cli-lab, instance cli-lab" in table.stdout


def test_schema():
    r = socklab("schema")
    assert r.exit_code == 0 and json.loads(r.stdout)["title"]


def test_commands_on_an_instance_that_is_not_up():
    for args in (["down", "no-such-inst"], ["status", "no-such-inst"], ["exec", "no-such-inst", "a", "--", "true"],
                 ["shell", "no-such-inst", "a"], ["capture", "no-such-inst", "a"]):
        r = socklab(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "socklab: error: no lab instance 'no-such-inst' is up (see `socklab status`)" in r.stderr, args


def test_exec_without_a_command():
    r = socklab("exec", "no-such-inst", "a", "--")
    assert r.exit_code == 2 and "no command given" in r.stderr


def test_run_refuses_bad_requests_before_building_anything(lab_file: Path, tmp_path: Path):
    r = socklab("run")
    assert r.exit_code == 2 and "name a lab to run (or --all-shipped)" in r.stderr
    r = socklab("run", lab_file, lab_file, "--name", "x")
    assert r.exit_code == 2 and "--name applies to one lab at a time" in r.stderr
    r = socklab("run", lab_file, "--submission", tmp_path / "nope")
    assert r.exit_code == 2 and "not a folder (socklab grade also takes .zip and .tar.gz)" in r.stderr
    r = socklab("run", tmp_path / "missing-lab")
    assert r.exit_code == 2 and "no such lab file or folder" in r.stderr


def test_run_whose_run_folder_cannot_be_made_is_an_infrastructure_failure(lab_file: Path, tmp_path: Path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    r = socklab("run", lab_file, "--runs-dir", blocker)
    assert r.exit_code == 3 and "socklab: error: cannot create a run folder under" in r.stderr


def test_grade_refuses_bad_requests(lab_file: Path, tmp_path: Path):
    r = socklab("grade", "tcp-hello", tmp_path, "--format", "pdf")
    assert r.exit_code == 2 and "--format 'pdf': choose from table, json" in r.stderr
    out = tmp_path / "results.json"
    r = socklab("grade", lab_file, tmp_path, "--format", "json", "-o", out)
    assert r.exit_code == 2 and "lab cli-lab has no grading: section" in r.stderr
    # even then, the autograder finds results: one "not graded" entry per submission
    saved = json.loads(out.read_text())
    assert saved["gradable"] is False and saved["failure"] == "stopped" and "no grading: section" in saved["error"]


def test_verify_needs_a_run_folder(tmp_path: Path):
    r = socklab("verify", tmp_path)
    assert r.exit_code == 2 and f"{tmp_path} is not a socklab run folder" in r.stderr


def test_debug_shows_the_traceback(tmp_path: Path):
    r = socklab("--debug", "validate", tmp_path / "nothing")
    assert r.exit_code == 1 and isinstance(r.exception, errors.LabFileError)


def test_usage_errors_are_click_s_exit_2():
    r = socklab("plan")
    assert r.exit_code == 2 and "Missing argument" in r.output
    r = socklab("no-such-command")
    assert r.exit_code == 2
