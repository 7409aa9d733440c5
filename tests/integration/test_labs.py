"""Every shipped lab runs green with its reference solution; the course's programs run unmodified."""

from __future__ import annotations

from pathlib import Path

import pytest

from socklab.model.loader import load_lab
from socklab.run import run_lab
from tests.conftest import LABS, needs_root

pytestmark = [needs_root]
SHIPPED = sorted(p.parent.name for p in LABS.glob("*/lab.yaml"))
COURSE = Path(__file__).resolve().parents[1] / "fixtures" / "course"


def describe(result) -> str:
    lines = [f"{s.id}: {s.problem} | {s.stdout_tail[-300:]} | {s.stderr_tail[-300:]}" for s in result.steps if not s.ok]
    lines += [f"{e.id}: {e.message} {e.error or ''}" for e in result.expectations if not e.passed]
    return "\n".join(lines + ([result.error] if result.error else []))


@pytest.mark.parametrize("lab", SHIPPED)
def test_shipped_lab_runs_green(lab, tmp_path):
    loaded = load_lab(lab)
    assert loaded.scenario, f"{lab} has no scenario"
    assert (LABS / lab / "README.md").is_file(), f"{lab} needs a README for students"
    result = run_lab(loaded, name=f"t-lab-{lab}"[:24], runs_dir=tmp_path)
    assert result.ok, describe(result)
    assert all(s.ok for s in result.steps)
    for capture in result.captures.values():
        assert (result.folder / capture["file"]).stat().st_size > 24, "a capture holds packets"


@pytest.mark.parametrize("lab", ["tcp-hello", "udp-hello", "raw-ip"])
def test_course_programs_run_unmodified(lab, tmp_path):
    result = run_lab(load_lab(lab), name=f"t-course-{lab}", runs_dir=tmp_path, submission=COURSE / lab)
    assert result.ok, describe(result)
    server = next(s for s in result.steps if s.id == "server")
    assert "Hello World from client" in server.stdout_tail
