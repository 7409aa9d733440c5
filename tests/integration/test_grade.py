"""`socklab grade`: full marks for references, exact losses for faults, hostile code contained."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from socklab.grade.batch import grade_many, grade_one
from socklab.model.loader import load_lab
from tests.conftest import LABS, needs_root

pytestmark = [needs_root]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHIPPED = sorted(p.parent.name for p in LABS.glob("*/lab.yaml"))


def submission(tmp_path: Path, lab: str, name: str, override: Path | None = None, drop: str | None = None) -> Path:
    folder = tmp_path / "subs" / name
    shutil.copytree(LABS / lab / "solution", folder)
    if override is not None:
        shutil.copytree(override, folder, dirs_exist_ok=True)
    if drop:
        (folder / drop).unlink()
    return folder


@pytest.mark.parametrize("lab", SHIPPED)
def test_reference_solution_scores_full_marks_in_the_sandbox(lab, tmp_path):
    loaded = load_lab(lab)
    assert loaded.grading is not None, f"{lab} has no grading section"
    grade = grade_one(loaded, LABS / lab / "solution", slot=0, runs_dir=tmp_path)
    assert grade.gradable, grade.error
    assert grade.score == grade.max_score > 0, [(t.id, t.feedback) for t in grade.tests if not t.passed]


@pytest.mark.parametrize(
    ("lab", "case", "lost"),
    [
        # with pairings, a check is lost in the pairings where the faulty side is under test
        ("tcp-hello", "wrong-payload", {"client:hello", "together:hello", "together:server-prints"}),
        ("tcp-hello", "mute-server", {"server:answer", "together:answer", "together:client-prints"}),
        ("raw-ip", "wrong-protocol", {"client:protocol-102", "client:payload", "together:protocol-102",
                                      "together:payload", "together:server-prints"}),
        ("af-packet", "bad-udp-checksum", {"checksums", "received"}),
    ],
)
def test_faulty_submission_loses_exactly_the_points_of_what_it_breaks(lab, case, lost, tmp_path):
    loaded = load_lab(lab)
    grade = grade_one(loaded, submission(tmp_path, lab, case, FIXTURES / "broken" / lab / case), 0, tmp_path)
    failed = {t.id for t in grade.tests if not t.passed}
    assert failed == lost
    expected = sum(t.max_score for t in grade.tests if t.id not in lost)
    assert grade.score == expected
    assert all(t.feedback and t.feedback != "passed" for t in grade.tests if t.id in lost)


def test_a_message_written_in_several_sends_scores_full_marks(tmp_path):
    """Stream checks: the greeting in two segments (and the answer in three) is still the greeting."""
    loaded = load_lab("tcp-hello")
    sub = submission(tmp_path, "tcp-hello", "split", FIXTURES / "split-writes" / "tcp-hello")
    grade = grade_one(loaded, sub, 0, tmp_path)
    assert grade.gradable, grade.error
    assert grade.score == grade.max_score, [(t.id, t.feedback) for t in grade.tests if not t.passed]
    together = next(p for p in grade.pairings if p.id == "together")  # the student's client and server
    hello = json.loads((Path(together.run_folder) / "results.json").read_text())
    messages = {e["id"]: e["message"] for e in hello["expectations"]}
    assert "23 bytes in 2 segments" in messages["hello"], messages["hello"]
    assert "23 bytes in 3 segments" in messages["answer"], messages["answer"]


def test_a_refused_connection_skips_what_needs_the_handshake(tmp_path):
    loaded = load_lab("tcp-hello")
    grade = grade_one(loaded, submission(tmp_path, "tcp-hello", "wrong-port", FIXTURES / "broken" / "tcp-hello" / "wrong-port"),
                      0, tmp_path)
    tests = {t.id: t for t in grade.tests}
    assert not tests["client:handshake"].passed and not tests["client:handshake"].skipped
    for check in ("client:hello", "client:answer", "client:close", "together:hello"):
        assert tests[check].skipped and tests[check].score == 0
        assert tests[check].feedback == "skipped: needs handshake, which failed"
    # a real grade with failures and skipped checks, in every format, is valid for its consumer
    import jsonschema
    from lxml import etree

    from socklab.grade.formats import gradescope, junit, prairielearn

    schemas = Path(__file__).resolve().parents[1] / "schemas"
    jsonschema.validate(gradescope(grade), json.loads((schemas / "gradescope-results.schema.json").read_text()))
    jsonschema.validate(prairielearn(grade), json.loads((schemas / "prairielearn-results.schema.json").read_text()))
    doc = etree.fromstring(junit([grade]).encode())
    for xsd in ("jenkins-xunit-junit-10.xsd", "windyroad-JUnit.xsd"):
        schema = etree.XMLSchema(etree.parse(str(schemas / xsd)))
        assert schema.validate(doc), (xsd, schema.error_log.last_error)
    assert doc.find("testsuite").get("skipped") == "6"  # hello, answer, close in the client and together pairings


def test_missing_file_scores_its_checks_zero_with_clear_feedback(tmp_path):
    lab = load_lab("tcp-hello")
    grade = grade_one(lab, submission(tmp_path, "tcp-hello", "no-client", drop="client.py"), 0, tmp_path)
    assert grade.gradable and grade.missing == ["client.py"]
    skipped = [t for t in grade.tests if t.feedback == "not checked: the submission has no client.py"]
    assert {t.id for t in skipped} >= {"client:client-prints", "client:handshake", "together:hello"}
    assert all(t.status == "skipped" for t in skipped)
    # the reference client still tests the student's server
    assert all(t.passed for t in grade.tests if t.pairing == "server")
    assert all(t.score == 0 for t in skipped)
    assert "missing file: client.py" in grade.summary


@pytest.mark.parametrize(
    ("case", "feedback"),
    [
        ("fork-bomb", "Resource temporarily unavailable"),
        ("memory-hog", "killed: over the memory limit (1 GiB resident)"),
        ("infinite-loop", "timed out"),
        ("never-exits", "timed out"),
        ("output-flood", "File too large"),
        ("reach-outside", "unreachable"),
    ],
)
def test_hostile_submission_is_contained_and_still_graded(case, feedback, tmp_path):
    lab = load_lab("tcp-hello")
    started = time.monotonic()
    grade = grade_one(lab, submission(tmp_path, "tcp-hello", case, FIXTURES / "hostile" / case), 0, tmp_path)
    elapsed = time.monotonic() - started
    assert grade.gradable, grade.error
    assert elapsed < 25, f"grading took {elapsed:.1f}s"
    client = next(t for t in grade.tests if t.id == "client:client-prints")
    assert not client.passed
    assert feedback in client.feedback + client.output, client.feedback + client.output
    # the output of a flood is cut by the file size limit, not kept whole
    stdout = Path(grade.run_folder) / "steps" / "client.stdout"
    assert stdout.stat().st_size <= lab.grading.limits.file_size
    # nothing of the submission survives its grading
    assert subprocess.run(["pgrep", "-u", str(61000 + (os.getpid() % 256) * 64)], capture_output=True).returncode == 1


def test_twenty_submissions_two_at_a_time_without_cross_talk(tmp_path):
    lab = load_lab("tcp-hello")
    subs = []
    for n in range(20):
        broken = FIXTURES / "broken" / "tcp-hello" / "wrong-payload" if n % 3 == 0 else None
        subs.append(submission(tmp_path, "tcp-hello", f"s{n:02d}", broken))
    started = time.monotonic()
    report = grade_many(lab, subs, jobs=2, runs_dir=tmp_path / "runs")
    elapsed = time.monotonic() - started
    assert report.stopped_by is None and not report.infrastructure_failures
    grades = report.grades
    assert [g.submission for g in grades] == [f"s{n:02d}" for n in range(20)]
    for n, grade in enumerate(grades):
        assert grade.gradable, grade.error
        full = grade.score == grade.max_score
        assert full == (n % 3 != 0), (grade.submission, [(t.id, t.feedback) for t in grade.tests if not t.passed])
        # each run saw its own submission's bytes only
        server_out = (Path(grade.run_folder) / "steps" / "server.stdout").read_text()
        assert ("klient" in server_out) == (n % 3 == 0)
    assert elapsed < 60


def test_cli_grade_formats_and_exit_codes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src"), "SOCKLAB_RUNS_DIR": str(tmp_path / "runs")}
    cli = [sys.executable, "-m", "socklab.cli", "grade", "tcp-hello"]
    good = submission(tmp_path, "tcp-hello", "good")
    archive = shutil.make_archive(str(tmp_path / "packed"), "gztar", root_dir=good)
    out = tmp_path / "results.json"
    r = subprocess.run([*cli, archive, "--format", "gradescope", "-o", str(out)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["score"] == 25 and len(data["tests"]) == 16  # three pairings
    r = subprocess.run([*cli, str(good), str(tmp_path / "nothing-here"), "--format", "csv", "-o", str(tmp_path / "g.csv")],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "g.csv").read_text().splitlines()
    assert rows[1].startswith("good,25,25,True") and "no such file or folder" in rows[2]
    r = subprocess.run([*cli, str(good), str(good)], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "summary: " in r.stderr
    summary = Path(r.stderr.split("summary: ")[1].split()[0])
    assert summary.read_text().splitlines()[1].startswith("good,25,25,True")
    r = subprocess.run([*cli, str(good), "--format", "pdf"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "--format" in r.stderr


def test_prairielearn_exit_code_is_zero_once_results_are_written(tmp_path):
    """PrairieLearn's grader host ignores results.json after a non-zero exit: not-gradable must still exit 0."""
    env = {**os.environ, "PYTHONPATH": str(LABS.parent / "src")}
    good = submission(tmp_path, "tcp-hello", "good")
    blocked = tmp_path / "runs-is-a-file"
    blocked.write_text("")
    out = tmp_path / "results.json"
    cli = [sys.executable, "-m", "socklab.cli", "grade", "tcp-hello", str(good), "--runs-dir", str(blocked), "-o", str(out)]
    r = subprocess.run([*cli, "--format", "prairielearn"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["gradable"] is False and data["message"]
    r = subprocess.run([*cli, "--format", "gradescope"], env=env, capture_output=True, text=True)
    assert r.returncode != 0  # other formats keep the infrastructure exit code
    assert json.loads(out.read_text())["output"].startswith("NOT GRADED: ")


def test_a_submission_cannot_replace_a_file_the_lab_provides(tmp_path):
    """af-packet's udp_server.py runs outside the sandbox: a submitted one must be ignored."""
    lab = load_lab("af-packet")
    sub = submission(tmp_path, "af-packet", "sneaky")
    (sub / "udp_server.py").write_text("import os\nprint('uid', os.getuid())\nopen('/tmp/socklab-pwned', 'w')\n")
    grade = grade_one(lab, sub, 0, tmp_path)
    assert grade.score == grade.max_score, [(t.id, t.feedback) for t in grade.tests if not t.passed]
    assert not Path("/tmp/socklab-pwned").exists()
    workspace_copy = Path(grade.run_folder) / "workspace" / "udp_server.py"
    assert "uid" not in workspace_copy.read_text()
