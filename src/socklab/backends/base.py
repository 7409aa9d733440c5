"""The narrow seam between socklab and a way of running nodes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from socklab.plan import Plan
from socklab.state import Record

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): the library reports, only the CLI draws."""


def no_progress(phase: str, done: int, total: int) -> None:
    return None


class Backend(Protocol):
    name: str

    def check(self) -> None:
        """Raise InfrastructureError when this backend cannot work here (not root, no engine)."""

    def claim(self, plan: Plan, record: Record) -> None:
        """Write into the record every object deploy() may create, before it creates any."""

    def deploy(self, plan: Plan, progress: Progress = no_progress) -> None:
        """Create every object of the plan. On failure the caller destroys what the record claims."""

    def destroy(self, record: Record) -> None:
        """Remove everything the record claims, whatever exists of it. Idempotent."""

    def exec_prefix(self, plan: Plan, node: str, interactive: bool = False) -> list[str]:
        """argv prefix that runs a command inside the node (with its hosts file)."""

    def netns_path(self, plan: Plan, node: str) -> str:
        """A path to the node's network namespace, for host tools such as tcpdump."""

    def workspace_root(self, plan: Plan) -> Path | None:
        """Where run workspaces must live to be visible in nodes at the same path (None: anywhere)."""

    def node_env(self) -> dict[str, str]:
        """Environment for commands run in nodes (PATH, PYTHONPATH for socklab.agents)."""

    def stop_processes(self, plan: Plan) -> None:
        """Kill every process running in the lab's nodes; the nodes stay up."""

    def orphans(self, claimed: set[str]) -> list[str]:
        """Objects this backend owns (by prefix or label) that no record claims."""

    def remove_orphans(self, objects: list[str]) -> None: ...
