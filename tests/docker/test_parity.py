"""Parity: every shipped lab passes `socklab run --backend docker` with the netns verdicts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from socklab.model.loader import load_lab
from socklab.run import run_lab
from tests.conftest import LABS

pytestmark = [pytest.mark.docker]
SHIPPED = sorted(p.parent.name for p in LABS.glob("*/lab.yaml"))
BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "broken"


@pytest.fixture(scope="module")
def engine():
    repo = Path(__file__).resolve().parents[2]
    if subprocess.run([str(repo / "scripts/ensure-docker.sh")], capture_output=True).returncode != 0:
        pytest.skip("no Docker engine could be started here")
    if subprocess.run([str(repo / "scripts/build-image.sh")], capture_output=True).returncode != 0:
        pytest.skip("the agent image could not be built (scripts/build-image.sh)")


def verdicts(result) -> dict[str, bool]:
    return {e.id: e.passed for e in result.expectations}


@pytest.mark.parametrize("lab", SHIPPED)
def test_shipped_lab_passes_on_docker(engine, lab, tmp_path):
    result = run_lab(load_lab(lab), name=f"t-dp-{lab}"[:24], backend="docker", runs_dir=tmp_path)
    assert result.backend == "docker"
    assert result.ok, [(s.id, s.problem, s.stderr_tail[-300:]) for s in result.steps if not s.ok] + [
        (e.id, e.message) for e in result.expectations if not e.passed]


@pytest.mark.parametrize(("lab", "case"), [("tcp-hello", "wrong-port"), ("af-packet", "bad-udp-checksum"),
                                           ("raw-ip", "wrong-protocol")])
def test_broken_programs_fail_the_same_checks_on_both_backends(engine, lab, case, tmp_path):
    submission = tmp_path / "sub"
    shutil.copytree(LABS / lab / "solution", submission)
    shutil.copytree(BROKEN / lab / case, submission, dirs_exist_ok=True)
    results = {
        backend: run_lab(load_lab(lab), name=f"t-dpb-{backend}", backend=backend, runs_dir=tmp_path / backend,
                         submission=submission)
        for backend in ("netns", "docker")
    }
    assert verdicts(results["docker"]) == verdicts(results["netns"])
    assert not all(verdicts(results["docker"]).values())


@pytest.mark.parametrize("lab", ["tcp-hello", "raw-ip", "scapy-basics"])
def test_grading_on_docker_gives_full_marks_to_references(engine, lab, tmp_path):
    from socklab.grade.batch import grade_one

    grade = grade_one(load_lab(lab), LABS / lab / "solution", slot=0, runs_dir=tmp_path, backend="docker")
    assert grade.gradable, grade.error
    assert grade.score == grade.max_score, [(t.id, t.feedback) for t in grade.tests if not t.passed]


def test_grading_on_docker_sandboxes_student_programs(engine, tmp_path):
    from socklab.grade.batch import grade_one

    submission = tmp_path / "sub"
    shutil.copytree(LABS / "tcp-hello" / "solution", submission)
    (submission / "client.py").write_text(
        "import os, socket\nprint('uid', os.getuid())\nsocket.socket(socket.AF_INET, socket.SOCK_RAW, 102)\n")
    grade = grade_one(load_lab("tcp-hello"), submission, slot=1, runs_dir=tmp_path, backend="docker")
    client = next(t for t in grade.tests if t.id == "client:client-prints")  # the student client, reference server
    assert "Operation not permitted" in client.output  # no raw sockets on tcp-hello's nodes
    assert "uid 0" not in client.output
