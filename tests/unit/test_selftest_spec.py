"""Mutant expectations: exact ids before globs, unlisted tests pass, typos are caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from socklab.errors import LabFileError
from socklab.grade.score import CheckGrade, Grade
from socklab.grade.selftest import MutantSpec, compare, load_mutants
from socklab.model.loader import load_lab

LABS = Path(__file__).resolve().parents[2] / "labs"
COURSE = {"af-packet", "raw-ip", "routed", "scapy-basics", "tcp-hello", "tcp6", "udp-hello", "udp6", "unix-sockets"}
"""Labs held to three mutants; the impair labs (reliable-udp, tcp-loss, icmp-raw) bring fewer so far."""


def test_exact_ids_win_over_globs_and_unlisted_tests_pass():
    spec = MutantSpec.model_validate({"description": "d", "checks": {
        "client:*": "fail", "client:handshake": "pass", "*:hello": {"verdict": "skipped", "feedback": "x"}}})
    assert spec.expected("client:handshake").verdict == "pass"
    assert spec.expected("client:answer").verdict == "fail"
    assert spec.expected("client:hello").verdict == "fail"  # the first glob that matches
    assert spec.expected("server:hello").verdict == "skipped"
    assert spec.expected("server:answer").verdict == "pass"


def _grade(*tests: tuple[str, str, str]) -> Grade:
    return Grade(submission="m", lab="tcp-hello", tests=[
        CheckGrade(id=i, title=i, score=0.0 if s != "passed" else 1.0, max_score=1.0, passed=s == "passed",
                   visibility="visible", feedback=f, skipped=s == "skipped") for i, s, f in tests])


def test_compare_flags_wrong_verdicts_missing_phrases_and_unknown_ids():
    lab = load_lab("tcp-hello")
    spec = MutantSpec.model_validate({"description": "d", "checks": {
        "client:hello": {"verdict": "fail", "feedback": "port 12346"}, "client:answer": "fail", "nosuch:*": "fail"}})
    outcome = compare(lab, "m", spec, _grade(("client:hello", "failed", "destination PORT 12346, expected 12345"),
                                             ("client:answer", "passed", "passed"),
                                             ("client:close", "skipped", "not checked")))
    cells = {c.check: c for c in outcome.cells}
    assert cells["client:hello"].ok  # phrases match case-insensitively
    assert not cells["client:answer"].ok and cells["client:answer"].actual == "pass"
    assert not cells["client:close"].ok and cells["client:close"].expected == "pass"
    assert any("'nosuch:*'" in p for p in outcome.problems)
    assert not outcome.ok


def test_solution_must_score_full_marks_and_be_gradable():
    lab = load_lab("tcp-hello")
    assert compare(lab, "solution", None, _grade(("a", "passed", "passed"))).ok
    short = compare(lab, "solution", None, _grade(("a", "passed", "passed"), ("b", "failed", "no")))
    assert not short.ok and any("not full marks" in p for p in short.problems)
    broken = compare(lab, "solution", None, Grade(submission="s", lab="tcp-hello", gradable=False, error="boom"))
    assert not broken.ok and broken.problems == ["not graded: boom"]


@pytest.mark.parametrize("lab", sorted(p.parent.name for p in LABS.glob("*/lab.yaml")))
def test_every_shipped_lab_has_three_mutants_with_valid_expectations(lab):
    mutants = load_mutants(load_lab(lab))
    assert len([m for m in mutants.values() if m.pending is None]) >= (3 if lab in COURSE else 1)
    for name, spec in mutants.items():
        files = [p.name for p in (LABS / lab / "mutants" / name).iterdir() if p.name != "expect.yaml"]
        assert files or spec.remove, f"{lab}/{name} changes nothing"


def test_a_broken_expect_yaml_names_its_file(tmp_path):
    import shutil

    shutil.copytree(LABS / "udp-hello", tmp_path / "udp-hello", ignore=shutil.ignore_patterns("mutants"))
    (tmp_path / "udp-hello" / "mutants" / "bad").mkdir(parents=True)
    (tmp_path / "udp-hello" / "mutants" / "bad" / "expect.yaml").write_text("checks: {a: maybe}\n")
    with pytest.raises(LabFileError, match="bad/expect.yaml"):
        load_mutants(load_lab(tmp_path / "udp-hello"))
