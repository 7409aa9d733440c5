"""Lab -> Plan: every kernel object a lab needs, decided up front. Pure and deterministic.

The plan is what backends realise and what `socklab plan` prints. Same lab file and
instance name, same plan, byte for byte.

Plain frozen dataclasses, written as JSON with the standard library: make_plan builds them
from a validated Lab, so nothing here needs validating, and a `socklab run` that finds its
lab in model/labcache.py then never builds a pydantic schema (building one also imports
importlib.metadata, for pydantic's plugins: together ~30 ms of a run here). A plan read back
from its JSON (`Plan.from_json`) is validated with pydantic, imported then.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from socklab import names
from socklab.errors import LabFileError, UsageError
from socklab.model.lab import Lab, Node

# Determinism: no DAD (addresses usable at once), no router solicitations (no stray packets).
BASE_SYSCTLS: dict[str, str] = {
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.all.router_solicitations": "0",
    "net.ipv6.conf.default.router_solicitations": "0",
    "net.ipv6.conf.all.accept_ra": "0",
    "net.ipv6.conf.default.accept_ra": "0",
}
ROUTER_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
# A switch is a bridge; it must not speak IPv6 itself (no MLD or ND of its own in captures).
SWITCH_SYSCTLS = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}


_FORBID_EXTRA = {"extra": "forbid"}  # pydantic's config for these dataclasses, read by from_json


@dataclass(frozen=True)
class PlanInterface:
    __pydantic_config__ = _FORBID_EXTRA

    name: str
    index: int  # ifindex, unique in the lab: a veth and its peer never share one (see netns.py)
    mac: str
    mtu: int | None
    ipv4: list[str]
    ipv6: list[str]
    peer: str  # "node:iface"


@dataclass(frozen=True)
class PlanRoute:
    __pydantic_config__ = _FORBID_EXTRA

    to: str
    via: str


@dataclass(frozen=True)
class PlanNode:
    __pydantic_config__ = _FORBID_EXTRA

    name: str
    kind: str
    netns: str
    interfaces: list[PlanInterface]
    bridge: str | None  # switches: the bridge every interface is a port of
    bridge_index: int | None
    routes: list[PlanRoute]
    sysctls: dict[str, str]
    image: str | None
    raw_sockets: bool

    def interface(self, name: str) -> PlanInterface:
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        raise KeyError(f"{self.name} has no interface {name}")


@dataclass(frozen=True)
class PlanLink:
    __pydantic_config__ = _FORBID_EXTRA

    index: int
    a: str
    b: str


@dataclass(frozen=True)
class PlanRelayLink:
    """An impaired link: a <-veth-> relay:a_side, relay:b_side <-veth-> b (the relay forwards between)."""

    __pydantic_config__ = _FORBID_EXTRA

    index: int  # the lab's link
    a: str  # "node:iface"
    b: str
    a_side: str  # the relay's interface facing a
    b_side: str
    a_side_index: int
    b_side_index: int
    a_side_mac: str
    b_side_mac: str


@dataclass(frozen=True)
class PlanRelay:
    """The hidden namespace holding both relay ends of every impaired link (one per instance)."""

    __pydantic_config__ = _FORBID_EXTRA

    netns: str
    links: list[PlanRelayLink]

    def link(self, index: int) -> PlanRelayLink | None:
        return next((lk for lk in self.links if lk.index == index), None)


@dataclass(frozen=True)
class HostEntry:
    __pydantic_config__ = _FORBID_EXTRA

    address: str
    name: str


@dataclass(frozen=True)
class Plan:
    __pydantic_config__ = _FORBID_EXTRA

    lab: str
    instance: str
    nodes: list[PlanNode]
    links: list[PlanLink]
    hosts: list[HostEntry]
    relay: PlanRelay | None = None  # impaired links (socklab.impair); None: every link is a plain veth

    @functools.cached_property
    def _by_name(self) -> dict[str, PlanNode]:
        return {n.name: n for n in self.nodes}

    def node(self, name: str) -> PlanNode:
        """A node by name, in constant time (callers ask once per node or capture point)."""
        found = self._by_name.get(name)
        if found is None:
            known = ", ".join(n.name for n in self.nodes)
            raise KeyError(f"no node {name!r} in lab {self.lab} (nodes: {known})")
        return found

    def hosts_file(self) -> str:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines += [f"{h.address}\t{h.name}" for h in self.hosts]
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        """Two-space indented JSON, fields in declaration order, non-ASCII as is."""
        return json.dumps(_as_data(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """A plan written by to_json, checked field by field (ValueError if it is not one)."""
        from pydantic import TypeAdapter

        return TypeAdapter(cls).validate_json(text)


def _as_data(obj: Any) -> Any:
    """A plan as JSON data: what dataclasses.asdict gives, without its deep copies."""
    if dataclasses.is_dataclass(obj):
        return {f.name: _as_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [_as_data(x) for x in obj]
    return obj


def make_plan(lab: Lab, instance: str | None = None) -> Plan:
    """The plan of `lab` for one instance (default: named after the lab)."""
    if instance is not None and not re.fullmatch(names.NAME_PATTERN, instance):
        raise UsageError(f"instance name {instance!r}: use lowercase letters, digits and '-', "
                         "start with a letter, at most 24 characters")
    instance = instance or lab.name
    indexes = _ifindexes(lab)
    link_mtu = {lk.index: lk.mtu for lk in lab.links}  # once: per node it made planning quadratic
    nodes = [_plan_node(lab, node, instance, indexes, link_mtu) for node in lab.nodes]
    macs: dict[str, str] = {}
    for node in nodes:
        for iface in node.interfaces:
            other = macs.setdefault(iface.mac, f"{node.name}:{iface.name}")
            if other != f"{node.name}:{iface.name}":
                raise LabFileError(str(lab.source or lab.name), f"MAC {iface.mac} used twice ({other} and {node.name}:{iface.name})")
    links = [PlanLink(index=lk.index, a=str(lk.a), b=str(lk.b)) for lk in lab.links]
    hosts = [
        HostEntry(address=str(addr.ip), name=node.name)
        for node in lab.nodes
        if node.kind != "switch"
        for iface in node.interfaces
        for addr in (*iface.ipv4, *iface.ipv6)
    ]
    return Plan(lab=lab.name, instance=instance, nodes=nodes, links=links, hosts=hosts,
                relay=_plan_relay(lab, instance, len(indexes) + 2))


def _plan_relay(lab: Lab, instance: str, first_index: int) -> PlanRelay | None:
    relayed = [lk for lk in lab.links if lk.relayed]
    if not relayed:
        return None
    out = []
    for n, lk in enumerate(relayed):
        a_side, b_side = f"l{lk.index}a", f"l{lk.index}b"
        out.append(PlanRelayLink(
            index=lk.index, a=str(lk.a), b=str(lk.b), a_side=a_side, b_side=b_side,
            a_side_index=first_index + 2 * n, b_side_index=first_index + 2 * n + 1,
            a_side_mac=names.mac_address(lab.name, names.RELAY_NODE, a_side),
            b_side_mac=names.mac_address(lab.name, names.RELAY_NODE, b_side),
        ))
    return PlanRelay(netns=names.netns_name(instance, names.RELAY_NODE), links=out)


def _ifindexes(lab: Lab) -> dict[tuple[str, str], int]:
    """Interface indexes unique across the lab, from 2 (lo is 1 in every namespace).

    A veth whose index equals its peer's looks like a non-stacked device to the kernel's
    linkwatch, which then delays its carrier-up by up to a second; unique indexes avoid it.
    """
    indexes: dict[tuple[str, str], int] = {}
    for node in lab.nodes:
        if node.kind == "switch":
            indexes[(node.name, "")] = len(indexes) + 2
        for iface in node.interfaces:
            indexes[(node.name, iface.name)] = len(indexes) + 2
    return indexes


def _plan_node(lab: Lab, node: Node, instance: str, indexes: dict[tuple[str, str], int],
               link_mtu: dict[int, int | None]) -> PlanNode:
    sysctls = dict(BASE_SYSCTLS)
    if node.kind == "router":
        sysctls.update(ROUTER_SYSCTLS)
    if node.kind == "switch":
        sysctls.update(SWITCH_SYSCTLS)
    sysctls.update(dict(node.sysctls))
    return PlanNode(
        name=node.name,
        kind=node.kind,
        netns=names.netns_name(instance, node.name),
        interfaces=[
            PlanInterface(
                name=i.name,
                index=indexes[(node.name, i.name)],
                mac=i.mac or names.mac_address(lab.name, node.name, i.name),
                mtu=i.mtu or link_mtu.get(i.link),
                ipv4=[str(a) for a in i.ipv4],
                ipv6=[str(a) for a in i.ipv6],
                peer=f"{i.peer_node}:{i.peer_iface}",
            )
            for i in node.interfaces
        ],
        bridge="br0" if node.kind == "switch" else None,
        bridge_index=indexes.get((node.name, "")),
        routes=[PlanRoute(to=str(r.to), via=str(r.via)) for r in node.routes],
        sysctls=sysctls,
        image=node.image,
        raw_sockets=node.raw_sockets,
    )
