"""`socklab selftest` for every shipped lab: solutions at full marks, mutants as their expect.yaml says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from socklab.grade.selftest import selftest
from socklab.model.loader import load_lab
from tests.conftest import LABS, needs_root
from tests.unit.test_selftest_spec import COURSE

pytestmark = [needs_root]
SHIPPED = sorted(p.parent.name for p in LABS.glob("*/lab.yaml"))


@pytest.fixture(scope="module")
def report():
    """All shipped labs in one pool: mutants wait on timeouts mostly, so 6 at a time on 2 cores."""
    started = time.monotonic()
    result = selftest([load_lab(lab) for lab in SHIPPED], jobs=6)
    result.elapsed = time.monotonic() - started
    return result


@pytest.mark.parametrize("lab", SHIPPED)
def test_selftest_of_each_shipped_lab_matches(report, lab):
    rows = [o for o in report.outcomes if o.lab == lab]
    assert rows[0].name == "solution" and rows[0].matches, rows[0].problems
    assert rows[0].score == rows[0].max_score > 0
    mutants = [o for o in rows[1:] if o.pending is None]
    assert len(mutants) >= (3 if lab in COURSE else 1), f"{lab} needs mutants held to their expectations"
    for o in mutants:  # a mutant expected to pass everything (split writes) must keep full marks
        must_pass = all(c.expected == "pass" for c in o.cells)
        assert (o.score == o.max_score) if must_pass else (o.score < o.max_score), \
            f"{o.name}: {o.score}/{o.max_score} ({'must keep full marks' if must_pass else 'a mutant that loses nothing tests nothing'})"
    assert any(not all(c.expected == "pass" for c in o.cells) for o in mutants), "no mutant that loses points"
    wrong = {o.name: o.problems + [f"{c.check}: {c.actual}, expected {c.expected}"
                                   f"{'' if c.feedback_found else f' (feedback lacks {c.feedback_wanted!r})'}"
                                   for c in o.cells if not c.ok] for o in rows if not o.ok}
    assert not wrong


def test_selftest_of_all_shipped_labs_is_quick(report):
    assert report.ok
    assert report.elapsed < 60, f"selftest of {len(SHIPPED)} labs took {report.elapsed:.1f}s"


def test_cli_selftest_exit_code_and_json_name_the_mismatch(tmp_path):
    lab = tmp_path / "udp-hello"
    shutil.copytree(LABS / "udp-hello", lab, ignore=shutil.ignore_patterns("mutants"))
    (lab / "mutants" / "loud").mkdir(parents=True)
    (lab / "mutants" / "loud" / "client.py").write_text(
        (LABS / "udp-hello" / "mutants" / "two-datagrams" / "client.py").read_text())
    (lab / "mutants" / "loud" / "expect.yaml").write_text(
        "description: claims too little\nchecks:\n  client:datagram: {verdict: fail, feedback: no such phrase}\n")
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src")}
    r = subprocess.run([sys.executable, "-m", "socklab.cli", "selftest", str(lab), "--json", "--jobs", "2"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    rows = {o["name"]: o for o in data["outcomes"]}
    assert rows["solution"]["ok"] and not rows["loud"]["ok"]
    cells = {c["check"]: c for c in rows["loud"]["cells"]}
    assert cells["client:datagram"]["actual"] == "fail" and not cells["client:datagram"]["feedback_found"]
    assert cells["together:datagram"] == {**cells["together:datagram"], "expected": "pass", "actual": "fail"}
    (lab / "mutants" / "loud" / "expect.yaml").write_text(
        "description: two datagrams\nchecks:\n  client:datagram: {verdict: fail, feedback: exactly 1}\n"
        "  together:datagram: fail\n")
    r = subprocess.run([sys.executable, "-m", "socklab.cli", "selftest", str(lab), "--jobs", "2"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "selftest udp-hello: 2/2 as expected" in r.stdout
