"""The hostile-submission suite on the docker backend (tests/hostile_suite.py): same programs,
same verdicts, with the containers as the private view."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.hostile_suite import run_suite

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def engine():
    repo = Path(__file__).resolve().parents[2]
    if subprocess.run([str(repo / "scripts/ensure-docker.sh")], capture_output=True).returncode != 0:
        pytest.skip("no Docker engine could be started here")
    if subprocess.run([str(repo / "scripts/build-image.sh")], capture_output=True).returncode != 0:
        pytest.skip("the agent image could not be built (scripts/build-image.sh)")


def test_hostile_submissions_are_contained_graded_and_leave_nothing_on_docker(engine, tmp_path):
    run_suite(tmp_path, backend="docker")
