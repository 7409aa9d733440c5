"""The agent image (images/agent, scripts/build-image.sh) on a real Docker engine.

Skips when `docker info` does not answer. Builds the image when the current tree's
tag (socklab/agent:<content-hash>) does not exist yet. Every container is labelled
socklab.lab=test-image, named sl-test-image-..., and removed, whatever happens.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socklab.backends.docker_image import agent_image_tag

REPO = Path(__file__).resolve().parents[2]
LABEL = "socklab.lab=test-image"
NAME_PREFIX = "sl-test-image-"
NODE_OPTIONS = ("--label", LABEL, "--network", "none", "--cap-drop", "ALL")
"""How the tests run a node-like container: no network, no capabilities."""

# The first test may build the image: ~40 s cold here, more behind a slow mirror.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def _engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if info.returncode != 0 or not info.stdout.strip():
        why = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"`docker info` failed ({why}); run scripts/ensure-docker.sh as root"
    return None


@pytest.fixture(scope="module")
def engine() -> None:
    problem = _engine_problem()
    if problem:
        pytest.skip(f"no Docker engine: {problem}")


def _leftovers() -> list[str]:
    by_label = docker("ps", "-a", "-q", "--filter", f"label={LABEL}").stdout.split()
    by_name = docker("ps", "-a", "-q", "--filter", f"name={NAME_PREFIX}").stdout.split()
    return sorted(set(by_label) | set(by_name))


@pytest.fixture(scope="module")
def image(engine: None) -> Iterator[str]:
    tag = agent_image_tag(REPO)
    if docker("image", "inspect", tag, check=False).returncode != 0:
        built = subprocess.run(
            [str(REPO / "scripts/build-image.sh")], capture_output=True, text=True, timeout=600
        )
        assert built.returncode == 0, f"build-image.sh failed:\n{built.stdout}\n{built.stderr}"
        assert docker("image", "inspect", tag, check=False).returncode == 0, built.stdout
    yield tag
    # Nothing may be left behind by any test of this module.
    assert _leftovers() == [], "containers left behind: " + " ".join(_leftovers())


@pytest.fixture
def container(image: str) -> Iterator[str]:
    """A node-like container: no network, no capabilities, the image's idle CMD."""
    name = NAME_PREFIX + secrets.token_hex(4)
    try:
        docker("run", "-d", "--name", name, *NODE_OPTIONS, image)
        yield name
    finally:
        docker("rm", "-f", "-v", name, check=False)


def run_in(name: str, script: str, timeout: float = 60) -> str:
    out = docker("exec", name, "python3", "-c", script, timeout=timeout, check=False)
    assert out.returncode == 0, f"python3 in the container failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_image_metadata(image: str) -> None:
    labels = docker("image", "inspect", "-f", "{{json .Config.Labels}}", image).stdout
    assert '"socklab.image":"agent"' in labels
    assert f'"socklab.image.hash":"{image.split(":")[1]}"' in labels
    env = docker("image", "inspect", "-f", "{{json .Config.Env}}", image).stdout
    assert "PYTHONPATH=/opt/socklab" in env
    latest = docker("image", "inspect", "-f", "{{.Id}}", "socklab/agent:latest", check=False)
    assert latest.returncode == 0, "socklab/agent:latest is missing"


def test_tools_and_python(container: str) -> None:
    state = docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip()
    assert state == "true", "the default CMD must keep the container idling"

    check_tools = "for t in tcpdump ip ping ps ethtool setcap setpriv python3; do command -v $t || exit 1; done"
    tools = docker("exec", container, "sh", "-c", check_tools, check=False)
    assert tools.returncode == 0, f"missing tools; found only:\n{tools.stdout}{tools.stderr}"
    assert "tcpdump version" in docker("exec", container, "tcpdump", "--version").stdout
    links = docker("exec", container, "ip", "-o", "link").stdout
    assert " lo:" in links and "eth0" not in links, links  # --network none: loopback only

    out = run_in(container, "import scapy, scapy.all; print(scapy.VERSION)")
    assert out.strip()


def test_agents_package(container: str) -> None:
    agents = REPO / "src/socklab/agents"
    if not agents.is_dir() or not any(agents.glob("*.py")):
        pytest.skip("src/socklab/agents has no modules yet")
    out = run_in(container, "import socklab.agents as a; print(a.__file__ or list(a.__path__))")
    assert out.strip().startswith("/opt/socklab/socklab/agents"), out


def test_agent_modules_need_nothing_the_image_lacks(container: str) -> None:
    """Every module of socklab.agents imports in the image without third-party packages.

    Only a missing module outside socklab (pydantic, typer, yaml...) fails this test:
    an agent that is broken on its own (say, a sibling module not written yet)
    is the agents' unit tests' business, not the image's.
    """
    agents = REPO / "src/socklab/agents"
    if not agents.is_dir() or not any(agents.glob("*.py")):
        pytest.skip("src/socklab/agents has no modules yet")
    script = (
        "import importlib, pkgutil, socklab.agents as a\n"
        "for m in pkgutil.walk_packages(a.__path__, 'socklab.agents.', onerror=lambda n: None):\n"
        "    if m.name.endswith('__main__'): continue\n"
        "    try: importlib.import_module(m.name)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if (e.name or '').split('.')[0] != 'socklab': print(f'{m.name} needs {e.name}')\n"
        "    except Exception: pass\n"
    )
    assert run_in(container, script).strip() == "", "agents import packages the image lacks"


def test_stop_is_prompt(image: str) -> None:
    """The idle CMD handles SIGTERM: `docker stop` does not wait out its timeout."""
    name = NAME_PREFIX + secrets.token_hex(4)
    try:
        docker("run", "-d", "--name", name, *NODE_OPTIONS, image)
        start = time.monotonic()
        docker("stop", "-t", "10", name, timeout=30)
        assert time.monotonic() - start < 5
        code = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert code == "0"
    finally:
        docker("rm", "-f", "-v", name, check=False)
