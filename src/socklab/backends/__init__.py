"""Backends realise a Plan: `netns` (namespaces + veth, no daemon) and `docker` (containers)."""

from __future__ import annotations

from socklab.backends.base import Backend
from socklab.errors import UsageError

BACKENDS = ("netns", "docker")


def get_backend(name: str) -> Backend:
    if name == "netns":
        from socklab.backends.netns import NetnsBackend

        return NetnsBackend()
    if name == "docker":
        from socklab.backends.docker import DockerBackend

        return DockerBackend()
    raise UsageError(f"unknown backend {name!r} (choose from: {', '.join(BACKENDS)})")
