"""What verification sees of a run: captures, the lab's addressing, and what each step did.

Plain data built by the runner (or rebuilt from a run folder), so the matcher needs no
backend, no root and no live lab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class InterfaceInfo:
    """One node interface as the plan configured it. Addresses are without prefix length."""

    name: str
    mac: str
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeInfo:
    name: str
    kind: str  # host | router | switch
    interfaces: dict[str, InterfaceInfo] = field(default_factory=dict)


@dataclass(frozen=True)
class StepRecord:
    """What one scenario step did. Times are epoch seconds, comparable with pcap timestamps."""

    id: str
    node: str
    command: str
    exit_code: int | None  # None: still running when killed at the end of the run
    timed_out: bool
    stdout: str
    stderr: str
    started: float
    ended: float


@dataclass(frozen=True)
class VerifyContext:
    """captures maps "node:iface" to its pcap file; nodes and steps as above."""

    captures: dict[str, Path]
    nodes: dict[str, NodeInfo]
    steps: tuple[StepRecord, ...] = ()
