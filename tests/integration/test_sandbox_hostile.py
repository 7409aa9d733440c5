"""The hostile-submission suite on the netns backend (tests/hostile_suite.py)."""

from __future__ import annotations

from tests.conftest import needs_root
from tests.hostile_suite import run_suite

pytestmark = [needs_root]


def test_hostile_submissions_are_contained_graded_and_leave_nothing_on_netns(tmp_path):
    run_suite(tmp_path, backend="netns")


def test_without_a_cgroup_memory_falls_back_to_the_address_space_limit_and_says_so(tmp_path):
    """The fallback is RLIMIT_AS: the 8 GiB reservation that a cgroup lets pass now fails."""
    from socklab.grade.batch import grade_one
    from socklab.grade.sandbox import Isolation
    from socklab.model.loader import load_lab
    from tests.hostile_suite import LAB, _submission

    sub = _submission(tmp_path / "subs", "reserve-8g", "reserve-8g")
    grade = grade_one(load_lab(LAB), sub, 0, tmp_path / "runs", isolation=Isolation(cgroups=False))
    assert grade.gradable, grade.error
    assert grade.sandbox == {"view": "private view (bubblewrap)", "limits": "rlimit (cgroups turned off)"}
    prints = [t for t in grade.tests if (t.check or t.id) == "client-prints" and not t.passed]
    assert prints and all("Cannot allocate memory" in t.output for t in prints), [(t.id, t.output) for t in prints]


def test_a_daemon_left_without_the_private_view_is_gone_when_the_grading_returns(tmp_path):
    """Without the view's PID namespace a double-forked, non-dumpable daemon outlives the
    client's session; the cgroup kills it and the grading waits until it is reaped."""
    import subprocess

    from socklab.grade.batch import _uid, grade_one
    from socklab.grade.sandbox import Isolation
    from socklab.model.loader import load_lab
    from tests.hostile_suite import LAB, _submission

    sub = _submission(tmp_path / "subs", "daemon", "daemon")
    for _ in range(3):
        grade = grade_one(load_lab(LAB), sub, 0, tmp_path / "runs", isolation=Isolation(view=False))
        assert grade.gradable and grade.score == grade.max_score, grade.error
        assert grade.sandbox["limits"].startswith("cgroup"), grade.sandbox
        assert subprocess.run(["pgrep", "-u", str(_uid(0))], capture_output=True).returncode == 1
