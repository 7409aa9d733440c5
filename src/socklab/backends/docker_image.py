"""Which agent image the docker backend should run: the content-hash tag.

`scripts/build-image.sh` builds and tags ``socklab/agent:<hash>``;
`agent_image_tag()` computes the same reference without running anything, so the
backend can tell whether the image it needs exists (``docker image inspect``)
and otherwise ask the user to run the script (or run it itself).

The hash, identical in both places (`tests/unit/test_docker_image_tag.py` checks it):

* inputs: ``images/agent/Dockerfile``, ``scripts/build-image.sh`` and every
  regular file under ``src/socklab/agents/`` except the contents of
  ``__pycache__/`` directories, ``*.pyc`` and ``*.pyo`` (symlinks are not
  followed), named by their repo-relative POSIX paths;
* manifest: one line per input, sorted by path bytes (``LC_ALL=C sort``), exactly
  as ``sha256sum`` prints it: ``"<sha256 hex of the content>  <path>\\n"``;
* hash: the first 12 hex digits of the sha256 of the manifest.

Standard library only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

AGENT_REPOSITORY = "socklab/agent"
"""Image repository of the agent image; ``:latest`` follows the last build."""

BASE_IMAGE = "socklab/base:bookworm"
"""The offline debootstrap base the agent image is built FROM."""

BUILD_SCRIPT = "scripts/build-image.sh"
DOCKERFILE = "images/agent/Dockerfile"
AGENTS_DIR = "src/socklab/agents"
HASH_LENGTH = 12

_SKIP_SUFFIXES = (".pyc", ".pyo")


def agent_image_inputs(repo_root: Path) -> list[str]:
    """The repo-relative paths that make up the hash, in manifest order."""
    repo_root = Path(repo_root)
    paths = [DOCKERFILE, BUILD_SCRIPT]
    agents = repo_root / AGENTS_DIR
    if agents.is_dir() and not agents.is_symlink():  # find(1) -P does not follow it either
        # os.walk does not descend into symlinked directories, like find(1).
        for dirpath, dirnames, filenames in os.walk(agents):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                full = Path(dirpath, name)
                if name.endswith(_SKIP_SUFFIXES) or full.is_symlink() or not full.is_file():
                    continue
                paths.append(full.relative_to(repo_root).as_posix())
    return sorted(paths, key=lambda p: p.encode())


def agent_image_hash(repo_root: Path) -> str:
    """The 12-hex-digit content hash of the agent image's inputs."""
    repo_root = Path(repo_root)
    manifest = hashlib.sha256()
    for rel in agent_image_inputs(repo_root):
        digest = hashlib.sha256((repo_root / rel).read_bytes()).hexdigest()
        manifest.update(f"{digest}  {rel}\n".encode())
    return manifest.hexdigest()[:HASH_LENGTH]


def agent_image_tag(repo_root: Path) -> str:
    """``socklab/agent:<hash>``: what ``scripts/build-image.sh --print-tag`` prints."""
    return f"{AGENT_REPOSITORY}:{agent_image_hash(repo_root)}"
