"""Endpoints: node names, "node:iface", "node:port" and literal addresses, resolved against the lab.

A resolved endpoint is the set of packed IP addresses and MACs that count as it, so the
matcher tests a frame with two set lookups.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from socklab.errors import SocklabError
from socklab.model.lab import IfaceRef
from socklab.model.plain import split_endpoint
from socklab.verify.context import NodeInfo
from socklab.verify.frames import Frame, ip_text, mac_text

__all__ = ["Ends", "Resolver", "SpecError", "pack_ip", "pack_mac", "split_endpoint"]


class SpecError(SocklabError):
    """The expectation cannot be evaluated against this lab (unknown node, capture, step...)."""


@dataclass(frozen=True)
class Ends:
    """A resolved endpoint: the addresses and MACs that count as it, and an optional port."""

    spec: str
    ips: frozenset[bytes]
    macs: frozenset[bytes]
    port: int | None = None
    node: str | None = None

    def text(self) -> str:
        """How messages name it: "192.168.11.11:12345" for a node with one address, else
        "server:12345 (192.168.11.11, fd00::11)"."""
        host = self.spec if self.port is None else split_endpoint(self.spec)[0]
        addrs = sorted(self.ips, key=len)
        if self.node is not None and len(addrs) == 1:
            host = ip_text(addrs[0])
            if self.port is None:
                return host
            return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        name = host if self.port is None else f"{host}:{self.port}"
        if self.node is not None and addrs:
            name += f" ({', '.join(ip_text(a) for a in addrs[:3])}{', ...' if len(addrs) > 3 else ''})"
        return name

    def has(self, f: Frame, src: bool) -> bool:
        if src:
            return f.ipsrc in self.ips or f.esrc in self.macs
        return f.ipdst in self.ips or f.edst in self.macs

    def at(self, f: Frame, src: bool) -> bool:
        """has(), and the TCP/UDP source (src) or destination port is this endpoint's port, if it has one."""
        return self.has(f, src) and (self.port is None or (f.sport if src else f.dport) == self.port)


def pack_ip(s: str) -> bytes:
    a = ipaddress.ip_address(s)
    return a.packed


def pack_mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", "").replace("-", ""))


_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")


class Resolver:
    """Node names → addresses, and addresses → "node:iface" for display."""

    def __init__(self, nodes: dict[str, NodeInfo]):
        self.nodes = nodes
        self.owner: dict[bytes, str] = {}
        for n in nodes.values():
            for i in n.interfaces.values():
                for a in (*i.ipv4, *i.ipv6):
                    self.owner.setdefault(pack_ip(a.split("/")[0]), f"{n.name}:{i.name}")
                if i.mac:
                    self.owner.setdefault(pack_mac(i.mac), f"{n.name}:{i.name}")

    def node(self, name: str) -> Ends:
        if name not in self.nodes:
            known = ", ".join(sorted(self.nodes)) or "none"
            raise SpecError(f"unknown node {name!r} (nodes: {known})")
        ips: set[bytes] = set()
        macs: set[bytes] = set()
        for i in self.nodes[name].interfaces.values():
            ips.update(pack_ip(a.split("/")[0]) for a in (*i.ipv4, *i.ipv6))
            if i.mac:
                macs.add(pack_mac(i.mac))
        return Ends(name, frozenset(ips), frozenset(macs), None, name)

    def endpoint(self, spec: str) -> Ends:
        host, port = split_endpoint(spec)
        try:
            return Ends(spec, frozenset([pack_ip(host)]), frozenset(), port)
        except ValueError:
            pass
        if _MAC_RE.match(host):
            return Ends(spec, frozenset(), frozenset([pack_mac(host)]), port)
        if host.count(":") == 1:
            ref = IfaceRef.parse(host)
            name, ifname = ref.node, ref.iface
            node = self.nodes.get(name)
            if node is None:
                self.node(name)  # raises the unknown-node error
            iface = node.interfaces.get(ifname)
            if iface is None:
                known = ", ".join(sorted(node.interfaces)) or "none"
                raise SpecError(f"node {name!r} has no interface {ifname!r} (interfaces: {known})")
            ips = frozenset(pack_ip(a.split("/")[0]) for a in (*iface.ipv4, *iface.ipv6))
            macs = frozenset([pack_mac(iface.mac)]) if iface.mac else frozenset()
            return Ends(spec, ips, macs, port, name)
        e = self.node(host)
        return Ends(spec, e.ips, e.macs, port, host)

    def name_ip(self, b: bytes | None) -> str:
        if b is None:
            return "-"
        own = self.owner.get(b)
        return ip_text(b) + (f" ({own})" if own else "")

    def name_mac(self, b: bytes | None) -> str:
        if b is None:
            return "-"
        own = self.owner.get(b)
        return mac_text(b) + (f" ({own})" if own else "")
