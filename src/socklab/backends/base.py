"""The narrow seam between socklab and a way of running nodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from socklab.plan import Plan
from socklab.state import Owned, Record

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): the library reports, only the CLI draws."""

NAMESPACES = "namespaces"
"""The phase of creating the nodes' network namespaces: at done == total every one exists
(netns_path names it), before any link is made (deployment.up's on_namespaces hangs on it)."""


def no_progress(phase: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class NodeAccess:
    """How a command reaches one node."""

    argv: list[str]  # prefix that runs a command inside the node, with its hosts file
    env: dict[str, str] = field(default_factory=dict)  # PATH, PYTHONPATH for socklab.agents...
    workspace_root: Path | None = None  # where run workspaces must live to be seen in the node (None: anywhere)


class Backend(Protocol):
    """Eight members: what deployment, run, gc and captures need of a backend, no more."""

    name: str

    def check(self) -> None:
        """Raise InfrastructureError when this backend cannot work here (not root, no engine)."""

    def claim(self, plan: Plan, record: Record) -> None:
        """Write into the record every object deploy() may create, before it creates any."""

    def deploy(self, plan: Plan, progress: Progress = no_progress) -> None:
        """Create every object of the plan. On failure the caller destroys what the record claims."""

    def destroy(self, record: Record) -> None:
        """Remove everything the record claims, whatever exists of it, and the processes in it. Idempotent.

        gc hands orphans over the same way, in a record of its own."""

    def node(self, plan: Plan, node: str, interactive: bool = False) -> NodeAccess:
        """How commands run in the node (interactive: with a terminal)."""

    def netns_path(self, plan: Plan, node: str) -> str:
        """A path to the node's network namespace, for host tools such as tcpdump.

        A /proc/<pid>/ns/net path names the process that holds the namespace (a container's
        init): `Deployment.kill_all` spares it, so the node stays up."""

    def orphans(self, claimed: set[Owned]) -> list[Owned]:
        """Objects this backend owns (by prefix or label) that no record claims."""
