"""What a running lab looks like from the kernel: links, their state and addresses, per node."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from socklab import nsutil, rtnl


@dataclass
class LiveInterface:
    name: str
    state: str
    mac: str
    mtu: int
    addresses: list[str] = field(default_factory=list)


def node_interfaces(netns_path: str) -> list[LiveInterface] | None:
    """Interfaces of one namespace, or None when it does not exist (any more)."""
    try:
        fd = nsutil.open_netns(netns_path)
    except OSError:
        return None
    try:
        with nsutil.entered(fd):
            sock = rtnl.open_socket()
        try:
            links = rtnl.dump(sock, "link")
            addrs = rtnl.dump(sock, "addr")
        finally:
            sock.close()
    finally:
        os.close(fd)
    by_index: dict[int, LiveInterface] = {}
    for link in links:
        name = link.get_attr("IFLA_IFNAME")
        if name == "lo":
            continue
        by_index[link["index"]] = LiveInterface(
            name=name,
            state=(link.get_attr("IFLA_OPERSTATE") or "?").lower(),
            mac=link.get_attr("IFLA_ADDRESS") or "",
            mtu=link.get_attr("IFLA_MTU") or 0,
        )
    for addr in addrs:
        iface = by_index.get(addr["index"])
        if iface is not None and addr["scope"] == 0:  # global scope only: no link-local noise
            iface.addresses.append(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}")
    return list(by_index.values())
