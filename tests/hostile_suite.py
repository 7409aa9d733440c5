"""The hostile-submission suite, shared by both backends (tests/integration and tests/docker).

Several hostile submissions of tcp-hello are graded in one `grade_many` call, two at a time
(so the covert pair runs side by side), and each verdict is checked: contained, graded with
a clear note, nothing left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from socklab.grade.batch import _uid, grade_many
from socklab.grade.sandbox import SANDBOX_UID_BASE
from socklab.model.loader import load_lab
from tests.conftest import LABS, socklab_leftovers

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hostile"
LAB = LABS / "tcp-hello"


def _submission(base: Path, name: str, case: str, **values: str) -> Path:
    folder = base / name
    shutil.copytree(LAB / "solution", folder)
    text = (FIXTURES / case / "client.py").read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    (folder / "client.py").write_text(text)
    return folder


def _archives(base: Path) -> tuple[Path, Path]:
    from tests.unit.test_submission_archives import zip_bomb

    bomb = zip_bomb(base / "bomb.zip")
    links = base / "links.tar.gz"
    with tarfile.open(links, "w:gz") as t:
        t.add(LAB / "solution" / "server.py", arcname="links/server.py")
        for name, kind, target in (("links/client.py", tarfile.SYMTYPE, str(LAB / "solution" / "client.py")),
                                   ("links/notes.txt", tarfile.LNKTYPE, "/etc/passwd")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = kind, target
            t.addfile(link)
    return bomb, links


def _folders(grade) -> list[Path]:
    """The run folders of a grade (one per pairing)."""
    return [Path(p.run_folder) for p in grade.pairings if p.run_folder] or [Path(grade.run_folder)]


def _line(grade, prefix: str) -> dict:
    """The hostile client's report, from the first pairing where the student's client ran."""
    for folder in _folders(grade):
        out = (folder / "steps" / "client.stdout").read_text()
        line = next((x for x in out.splitlines() if x.startswith(prefix + " ")), None)
        if line is not None:
            return json.loads(line[len(prefix) + 1:])
    raise AssertionError(f"no {prefix} line in the client's output of {grade.submission}")


def _instance_of(folder: Path) -> str:
    return json.loads((folder / "results.json").read_text())["instance"]


def run_suite(tmp_path: Path, backend: str) -> None:
    lab = load_lab(LAB)
    runs = tmp_path / "runs"
    runs.mkdir()
    subs = tmp_path / "subs"
    marks = dict(LAB=str(LAB), RUNS=str(runs), GRADER=str(os.getpid()))
    bomb, links = _archives(tmp_path)
    submissions = [
        _submission(subs, "covert-a", "covert", ME="a", OTHER="b"),
        _submission(subs, "covert-b", "covert", ME="b", OTHER="a"),
        _submission(subs, "spy", "spy", **marks),
        _submission(subs, "reserve-8g", "reserve-8g"),
        _submission(subs, "memory-hog", "memory-hog"),
        _submission(subs, "daemon", "daemon"),
        bomb,
        links,
    ]
    started = time.monotonic()
    report = grade_many(lab, submissions, jobs=2, runs_dir=runs, backend=backend)
    elapsed = time.monotonic() - started
    grades = {g.submission: g for g in report.grades}
    assert report.stopped_by is None, report.stopped_by
    problems = {n: (g.error, [(t.id, t.feedback[:200]) for t in g.tests if not t.passed]) for n, g in grades.items()}

    # programs that only look around are contained and still earn full marks
    for name in ("covert-a", "covert-b", "spy", "reserve-8g", "daemon"):
        g = grades[name]
        assert g.gradable and g.score == g.max_score, (name, problems[name])
        assert g.sandbox["limits"].endswith(("cgroup v1", "cgroup v2")), g.sandbox
    spy = _line(grades["spy"], "SPY")
    # /run/socklab: absent on netns; on docker only the parents of the submission's own workspace
    own = [_instance_of(f) for f in _folders(grades["spy"])]
    assert all(p in ("/run/socklab", "/run/socklab/instances") or any(f"/{i}" in p for i in own)
               for p in spy.pop("run")), spy
    assert spy == {"solution": [], "read": [], "grader": [], "environ": [], "signalled": [], "wrote": [],
                   "listed": []}, spy
    assert not (LAB / "socklab-pwned").exists() and not (runs / "socklab-pwned").exists()
    a, b = (_line(grades[n], "COVERT") for n in ("covert-a", "covert-b"))
    assert a["files"] == a["sockets"] == b["files"] == b["sockets"] == [], (a, b)
    # the two really ran at the same time: each looked while the other's traces existed
    assert a["window"][0] < b["window"][1] and b["window"][0] < a["window"][1], (a["window"], b["window"])

    # over the resident-memory limit: killed, and the feedback says why
    hog = grades["memory-hog"]
    assert hog.gradable, hog.error
    prints = [t for t in hog.tests if (t.check or t.id) == "client-prints" and not t.passed]
    assert prints and all("killed: over the memory limit (1 GiB resident)" in t.output for t in prints), [
        (t.id, t.output) for t in prints]

    # a zip bomb is refused at once with a note for the student; links are skipped, never followed
    assert not grades["bomb"].gradable and grades["bomb"].failure == "submission"
    assert "refused, it unpacks to more than 32 MiB" in grades["bomb"].error
    assert grades["bomb"].duration < 1.0
    linked = grades["links"]
    assert linked.gradable and linked.missing == ["client.py"], problems["links"]
    assert "links/client.py: skipped, a symbolic link" in linked.summary
    assert "links/notes.txt: skipped, a hard link" in linked.summary
    assert not any((f / "workspace" / "notes.txt").exists() for f in _folders(linked))

    # nothing left behind: no process of a grading uid (the daemon's either), no cgroup, no lab
    for slot in range(2):
        uid = _uid(slot)
        assert SANDBOX_UID_BASE <= uid
        assert subprocess.run(["pgrep", "-u", str(uid)], capture_output=True).returncode == 1
    leftovers = [x for x in socklab_leftovers() if f"g{os.getpid()}-" in x]
    assert leftovers == [], leftovers
    assert elapsed < 90, f"the suite took {elapsed:.1f}s"
