"""The agent image tag: scripts/build-image.sh and socklab.backends.docker_image agree.

No Docker engine needed: `--print-tag` only hashes files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from socklab.backends.docker_image import (
    AGENT_REPOSITORY,
    BUILD_SCRIPT,
    DOCKERFILE,
    agent_image_inputs,
    agent_image_tag,
)

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def print_tag(repo: Path) -> str:
    out = subprocess.run(
        ["bash", str(repo / BUILD_SCRIPT), "--print-tag"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.strip()


def test_script_and_python_agree_on_this_repo() -> None:
    tag = print_tag(REPO)
    assert re.fullmatch(rf"{re.escape(AGENT_REPOSITORY)}:[0-9a-f]{{12}}", tag), tag
    assert agent_image_tag(REPO) == tag


def _fake_repo(tmp_path: Path) -> Path:
    """A copy of the hash inputs in a scratch tree, free to be edited."""
    for rel in (DOCKERFILE, BUILD_SCRIPT):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, tmp_path / rel)
    return tmp_path


def test_agree_without_agents_dir(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path)
    assert agent_image_inputs(repo) == sorted([BUILD_SCRIPT, DOCKERFILE])
    assert agent_image_tag(repo) == print_tag(repo)


def test_agree_on_tricky_trees_and_track_content(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path)
    agents = repo / "src/socklab/agents"
    (agents / "sub" / "__pycache__").mkdir(parents=True)
    (agents / "__init__.py").write_text("")
    (agents / "tcp.py").write_text("print('tcp')\n")
    (agents / "Z_upper.py").write_text("z\n")  # byte order: 'Z' < '_' < 'a'
    (agents / "sub" / "x y.py").write_text("space in name\n")
    (agents / "sub" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0junk")
    (agents / "stale.pyc").write_bytes(b"\0junk")
    (agents / "link.py").symlink_to("tcp.py")
    (agents / "éte.py").write_text("utf-8 name\n")
    before = agent_image_tag(repo)
    assert before == print_tag(repo)
    assert "src/socklab/agents/link.py" not in agent_image_inputs(repo)
    assert "src/socklab/agents/stale.pyc" not in agent_image_inputs(repo)

    # Caches do not change the tag; content does.
    (agents / "__pycache__").mkdir()
    (agents / "__pycache__" / "tcp.cpython-311.pyc").write_bytes(b"x")
    assert agent_image_tag(repo) == before == print_tag(repo)
    (agents / "tcp.py").write_text("print('tcp v2')\n")
    after = agent_image_tag(repo)
    assert after != before
    assert after == print_tag(repo)
