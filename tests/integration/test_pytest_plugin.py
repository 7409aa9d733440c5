"""The pytest fixtures socklab ships give a real lab and clean it up."""

from __future__ import annotations

from socklab import state
from tests.conftest import LABS, needs_root

pytestmark = [needs_root]


def test_socklab_lab_fixture_gives_a_running_lab(socklab_lab):
    dep = socklab_lab(LABS / "routed")
    assert dep.exec("client", ["ping", "-c1", "-W2", "server"]).returncode == 0
    assert state.load(dep.instance).state == "up"


def test_socklab_run_fixture_runs_and_verifies(socklab_run):
    result = socklab_run("udp-hello")
    assert result.ok and [e.id for e in result.expectations if e.passed] == ["datagram", "server-prints"]
    assert state.load(result.instance) is None  # brought down after the run
