"""The hostile-submission suite on the netns backend (tests/hostile_suite.py)."""

from __future__ import annotations

from tests.conftest import needs_root
from tests.hostile_suite import run_suite

pytestmark = [needs_root]


def test_hostile_submissions_are_contained_graded_and_leave_nothing_on_netns(tmp_path):
    run_suite(tmp_path, backend="netns")
