"""The platform recipes (contrib/) in a local container started with exactly the capabilities
their README states, on a fake /autograder or /grade layout: the results file they write."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import LABS

pytestmark = [pytest.mark.docker]
REPO = Path(__file__).resolve().parents[2]
CONTRIB = REPO / "contrib"
IMAGE = "socklab/agent:latest"
CAPS = re.findall(r"--cap-add (\w+)", (CONTRIB / "README.md").read_text())


@pytest.fixture(scope="module")
def engine():
    if shutil.which("docker") is None:
        pytest.skip("no docker client here")
    started = subprocess.run([str(REPO / "scripts/ensure-docker.sh")], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.skip(f"no Docker engine: scripts/ensure-docker.sh failed: {started.stderr.strip()[-200:]}")
    if subprocess.run([str(REPO / "scripts/build-image.sh")], capture_output=True).returncode != 0:
        pytest.skip("the agent image could not be built (scripts/build-image.sh)")


def run_recipe(mounts: dict[Path, str], command: list[str], caps: list[str] | None) -> subprocess.CompletedProcess:
    """The recipe in the agent image, socklab and its dependencies mounted where the wheel would be."""
    site = Path(sysconfig.get_paths()["purelib"])
    volumes = {REPO / "src": "/opt/socklab/src", site: "/opt/socklab/deps", **mounts}
    bwrap = shutil.which("bwrap")
    if bwrap:  # the agent image has no bubblewrap; the real base installs it (contrib/README.md)
        volumes[Path(bwrap)] = "/usr/local/bin/bwrap"
    argv = ["docker", "run", "--rm", "--network", "none"]
    if caps is not None:
        argv += ["--cap-drop", "ALL", *[a for cap in caps for a in ("--cap-add", cap)]]
    for host, inside in volumes.items():
        mode = "rw" if inside.endswith("results") else "ro"
        argv += ["-v", f"{host}:{inside}:{mode}"]
    argv += ["-e", "PYTHONPATH=/opt/socklab/src:/opt/socklab/deps", "-e", "SOCKLAB=python3 -m socklab.cli",
             IMAGE, *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180)


def submission(tmp_path: Path, broken: str | None = None) -> Path:
    folder = tmp_path / "submission"
    shutil.copytree(LABS / "tcp-hello" / "solution", folder)
    if broken:
        shutil.copytree(LABS / "tcp-hello" / "mutants" / broken, folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("expect.yaml"))
    return folder


def gradescope(tmp_path: Path, caps: list[str] | None) -> tuple[subprocess.CompletedProcess, dict]:
    results = tmp_path / "results"
    results.mkdir()
    mounts = {
        CONTRIB / "gradescope" / "run_autograder": "/autograder/run_autograder",
        CONTRIB / "grader-check.sh": "/autograder/source/grader-check.sh",
        LABS / "tcp-hello": "/autograder/source/lab",
        submission(tmp_path): "/autograder/submission",
        results: "/autograder/results",
    }
    done = run_recipe(mounts, ["sh", "/autograder/run_autograder"], caps)
    return done, json.loads((results / "results.json").read_text())


def test_the_readme_states_the_capabilities_the_netns_backend_needs():
    assert {"SYS_ADMIN", "NET_ADMIN", "NET_RAW"} <= set(CAPS)


@pytest.mark.xfail(reason="since the sandbox's bwrap view merged, bwrap's pivot_root is refused in the recipe "
                   "container (docker's default AppArmor/seccomp); the recipe needs a fix or a view-less mode", strict=False)
def test_gradescope_recipe_grades_with_exactly_the_stated_capabilities(engine, tmp_path):
    done, data = gradescope(tmp_path, CAPS)
    assert done.returncode == 0, done.stderr
    assert data["score"] == 25 and len(data["tests"]) == 16, data.get("output")
    assert all(t["status"] == "passed" for t in data["tests"])


def test_gradescope_recipe_without_the_capabilities_says_not_graded(engine, tmp_path):
    done, data = gradescope(tmp_path, None)  # Docker's default capabilities, as on Gradescope
    assert done.returncode == 0, done.stderr
    assert data["score"] == 0 and data["tests"] == []
    assert data["output"].startswith("NOT GRADED: this autograder container cannot run socklab's network labs")
    assert "CAP_SYS_ADMIN" in data["output"]


def prairielearn(tmp_path: Path, caps: list[str] | None, broken: str | None = None):
    results = tmp_path / "results"
    results.mkdir()
    mounts = {
        CONTRIB / "prairielearn" / "run.sh": "/opt/socklab-grader/run.sh",
        CONTRIB / "grader-check.sh": "/opt/socklab-grader/grader-check.sh",
        LABS / "tcp-hello": "/grade/tests/lab",
        submission(tmp_path, broken): "/grade/student",
        results: "/grade/results",
    }
    done = run_recipe(mounts, ["/opt/socklab-grader/run.sh"], caps)
    return done, json.loads((results / "results.json").read_text())


@pytest.mark.xfail(reason="since the sandbox's bwrap view merged, bwrap's pivot_root is refused in the recipe "
                   "container (docker's default AppArmor/seccomp); the recipe needs a fix or a view-less mode", strict=False)
def test_prairielearn_recipe_grades_with_exactly_the_stated_capabilities(engine, tmp_path):
    done, data = prairielearn(tmp_path, CAPS, broken="mute-server")
    assert done.returncode == 0, done.stderr
    assert data["gradable"] is True
    assert data["score"] == pytest.approx(20 / 25)
    failed = {t["description"] for t in data["tests"] if t["points"] < t["max_points"]}
    assert failed == {"server:answer", "together:answer", "together:client-prints"}


def test_prairielearn_recipe_without_the_capabilities_exits_0_not_gradable(engine, tmp_path):
    done, data = prairielearn(tmp_path, None)
    assert done.returncode == 0, done.stderr  # PrairieLearn reads results.json only after exit 0
    assert data["gradable"] is False and "CAP_SYS_ADMIN" in data["message"]
