"""pytest fixtures that give a test a real running lab, and always bring it down.

Installed with socklab (entry point `pytest11`), so any project's tests can write:

    def test_my_server(socklab_lab):
        dep = socklab_lab("labs/tcp-hello")
        assert dep.exec("client", ["ping", "-c1", "server"]).returncode == 0

    def test_my_lab_passes(socklab_run):
        assert socklab_run("labs/my-lab").ok

Nothing heavy is imported until a fixture is used: pytest loads this module in every session.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_serial = itertools.count(1)


def _instance_name() -> str:
    """Unique per process and call, so parallel test sessions never collide."""
    return f"pt{os.getpid() % 100000}-{next(_serial)}"


@pytest.fixture
def socklab_lab() -> Iterator[Callable[..., Any]]:
    """A factory: socklab_lab(lab, backend=None, name=None) -> Deployment, down at teardown."""
    import socklab

    deployments: list[Any] = []

    def make(lab: Any, backend: str | None = None, name: str | None = None) -> Any:
        deployment = socklab.up(lab, backend=backend, name=name or _instance_name())
        deployments.append(deployment)
        return deployment

    try:
        yield make
    finally:
        for deployment in reversed(deployments):
            deployment.down()


@pytest.fixture
def socklab_run(tmp_path: Path) -> Callable[..., Any]:
    """socklab_run(lab, submission=None, backend=None) -> RunResult; the run folder is in tmp_path."""

    def run(lab: Any, submission: str | Path | None = None, backend: str | None = None) -> Any:
        from socklab.model.lab import Lab
        from socklab.model.loader import load_lab
        from socklab.run import run_lab

        loaded = lab if isinstance(lab, Lab) else load_lab(lab)
        return run_lab(loaded, name=_instance_name(), backend=backend, runs_dir=tmp_path / "runs",
                       submission=Path(submission) if submission else None)

    return run
