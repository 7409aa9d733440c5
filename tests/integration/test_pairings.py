"""Cross-testing: each side meets the reference peer in its own run; the reference stays hidden."""

from __future__ import annotations

import shutil
from pathlib import Path

from socklab.grade.batch import grade_one
from socklab.model.loader import load_lab
from tests.conftest import LABS, needs_root

pytestmark = [needs_root]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_broken_server_costs_only_the_server_its_points(tmp_path):
    lab = load_lab("tcp-hello")
    folder = tmp_path / "mute"
    shutil.copytree(LABS / "tcp-hello" / "solution", folder)
    shutil.copytree(FIXTURES / "broken" / "tcp-hello" / "mute-server", folder, dirs_exist_ok=True)
    grade = grade_one(lab, folder, 0, tmp_path / "runs")
    assert grade.gradable, grade.error
    verdicts = {p.id: p.verdict for p in grade.pairings}
    assert verdicts["client"] == "your client works with the reference server"
    assert verdicts["server"].startswith("your server did not work with the reference client (failed: answer")
    client = [t for t in grade.tests if t.pairing == "client"]
    assert client and all(t.passed for t in client)
    answer = next(t for t in grade.tests if t.id == "server:answer")
    assert answer.feedback.startswith("your server with the reference client: ")
    assert "your client works with the reference server" in grade.summary
    # each pairing ran in its own instance and run folder
    assert len({p.run_folder for p in grade.pairings}) == 3


def test_the_reference_server_is_out_of_the_student_programs_view(tmp_path):
    lab = load_lab("tcp-hello")
    folder = tmp_path / "snoop"
    shutil.copytree(FIXTURES / "peers" / "snoop", folder)  # no server.py of its own
    grade = grade_one(lab, folder, 0, tmp_path / "runs")
    assert grade.gradable, grade.error
    client_run = next(p for p in grade.pairings if p.id == "client")
    stdout = (Path(client_run.run_folder) / "steps" / "client.stdout").read_text()
    assert "snooped:" in stdout and "Reference TCP server" not in stdout and "listed" not in stdout, stdout
    assert "server said: Hello World from server" in stdout
    assert all(t.passed for t in grade.tests if t.pairing == "client"), [t.feedback for t in grade.tests]
    # the student's own server is missing: its pairings score nothing, with that reason
    assert all(t.status == "skipped" for t in grade.tests if t.pairing == "server")
    assert not (Path(client_run.run_folder) / "workspace" / "server.py").exists()
