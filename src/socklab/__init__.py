"""socklab: isolated network labs for socket programming.

This module stays import-light on purpose: the agents (`python3 -m socklab.agents`)
run inside lab nodes and containers with only the standard library, and
`socklab --help` must start fast. Heavy modules load inside the functions below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from socklab.deployment import Deployment
    from socklab.model.lab import Lab


def load(path: str) -> Lab:
    """Read and validate a lab file (a folder, a lab.yaml, or the name of a shipped lab)."""
    from socklab.model.loader import load_lab

    return load_lab(path)


def up(lab: Lab | str, backend: str | None = None, name: str | None = None, **kwargs: Any) -> Deployment:
    """Bring a lab up and return its Deployment (a context manager that brings it down)."""
    from socklab.deployment import up as _up

    return _up(lab, backend=backend, name=name, **kwargs)
