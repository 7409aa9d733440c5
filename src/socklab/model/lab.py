"""The resolved lab: every node with all its interfaces, peers and addresses known.

Pure data, frozen, built from a LabSpec by resolve.py. Backends never see the spec.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socklab.model.impair import FaultSpec, LinkImpairment
from socklab.model.spec import CaptureSpec, LabSpec, StepSpec


@dataclass(frozen=True)
class Interface:
    node: str
    name: str
    link: int  # index into Lab.links
    peer_node: str
    peer_iface: str
    ipv4: tuple[ipaddress.IPv4Interface, ...] = ()
    ipv6: tuple[ipaddress.IPv6Interface, ...] = ()
    mac: str | None = None  # explicit in the lab file; otherwise the plan derives one
    mtu: int | None = None


@dataclass(frozen=True)
class Route:
    to: ipaddress.IPv4Network | ipaddress.IPv6Network
    via: ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Node:
    name: str
    kind: str  # host | router | switch
    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    image: str | None = None
    raw_sockets: bool = False

    def interface(self, name: str) -> Interface:
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        raise KeyError(f"{self.name} has no interface {name}")


@dataclass(frozen=True)
class Link:
    index: int
    a: tuple[str, str]  # (node, iface)
    b: tuple[str, str]
    mtu: int | None = None
    impair: LinkImpairment | None = None
    relayed: bool = False  # frames cross socklab's relay (impairments, faults, run-time changes)

    def end(self, endpoint: str) -> str | None:
        """"a" or "b" for the end "node:iface" of this link, else None."""
        return "a" if endpoint == ":".join(self.a) else "b" if endpoint == ":".join(self.b) else None


@dataclass(frozen=True)
class Fault:
    """A fault of the lab file, placed: on the egress of `on` ("node:iface") into link `link`."""

    index: int  # in the lab file's faults list
    spec: FaultSpec
    on: str
    link: int


@dataclass(frozen=True)
class Lab:
    name: str
    description: str
    backend: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    scenario: tuple[StepSpec, ...]
    captures: tuple[CaptureSpec, ...]  # resolved: "all" becomes every non-switch interface
    expect: tuple[Any, ...]
    grading: Any
    spec: LabSpec
    seed: int = 0
    faults: tuple[Fault, ...] = ()
    source: Path | None = None  # the lab.yaml it came from

    @property
    def folder(self) -> Path | None:
        return self.source.parent if self.source else None

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)
