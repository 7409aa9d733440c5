"""The wiring both backends share: a Plan's network built into existing, empty namespaces.

The netns backend hands it the namespaces it made; the docker backend its containers'.
Also here: the instance's hosts file, and killing what runs in a set of namespaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import struct
import time
from pathlib import Path

from socklab import nsutil, rtnl
from socklab.backends.base import Progress, no_progress
from socklab.errors import InfrastructureError
from socklab.plan import Plan, PlanNode
from socklab.state import instance_dir
from socklab.sysctl import SysctlWriter, is_early

SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17


def hosts_file_path(instance: str) -> Path:
    """The instance's one hosts file, shared by every node (netns: through /etc/netns; docker: bind-mounted)."""
    return instance_dir(instance) / "etc" / "hosts"


def write_hosts(plan: Plan) -> Path:
    """Write the instance's one hosts file (the same bytes on both backends); return its path."""
    hosts = hosts_file_path(plan.instance)
    hosts.parent.mkdir(parents=True, exist_ok=True)
    hosts.write_text(plan.hosts_file())
    return hosts


def wire_namespaces(plan: Plan, fds: dict[str, int], progress: Progress = no_progress) -> None:
    """Realise the plan's network in existing, empty namespaces: one open fd per node.

    Shared by both backends (the docker backend passes its containers' namespaces):
    early sysctls, bridges, every veth pair in one batch with both ends born in their
    namespaces, then offloads, links up, addresses, routes and late sysctls.
    Raises InfrastructureError naming what the kernel refused.
    """
    nodes = {n.name: n for n in plan.nodes}
    total = len(plan.nodes)
    relay_fd = -1
    try:
        with SysctlWriter() as sysctls:
            # 1. early sysctls, in a second thread, while the batch below is encoded
            for node in plan.nodes:
                sysctls.submit(fds[node.name], node.name, _sysctls(node, early=True))
            if plan.relay is not None:  # impaired links meet in the relay's namespace (socklab.impair)
                relay_fd = _relay_namespace(plan.relay.netns)
            # 2. bridges and every veth pair in one batch from the root namespace, each born in its namespace
            root = rtnl.open_socket()
            try:
                batch = rtnl.Batch(root)
                for node in plan.nodes:
                    if node.bridge:
                        batch.bridge(node.bridge, node.bridge_index, fds[node.name])
                for link in plan.links:
                    a_node, a_if = link.a.split(":")
                    b_node, b_if = link.b.split(":")
                    ia, ib = nodes[a_node].interface(a_if), nodes[b_node].interface(b_if)
                    relayed = plan.relay.link(link.index) if plan.relay is not None else None
                    if relayed is None:
                        batch.veth(
                            ia.name, fds[a_node], ia.index, ia.mac, ia.mtu,
                            ib.name, fds[b_node], ib.index, ib.mac,
                        )
                        continue
                    # an impaired link: two veths, a <-> relay:a_side and relay:b_side <-> b
                    batch.veth(ia.name, fds[a_node], ia.index, ia.mac, ia.mtu,
                               relayed.a_side, relay_fd, relayed.a_side_index, relayed.a_side_mac)
                    batch.veth(relayed.b_side, relay_fd, relayed.b_side_index, relayed.b_side_mac, ib.mtu,
                               ib.name, fds[b_node], ib.index, ib.mac)
                sysctls.wait()  # default.* before the interfaces that inherit them exist
                batch.commit()
            finally:
                root.close()
            if plan.relay is not None:
                _relay_links_up(plan.relay, relay_fd)
            progress("links", len(plan.links), len(plan.links))
            # 3. in each namespace: offloads, links up, addresses, routes; then late sysctls.
            # Its two sockets live only meanwhile: one per node at a time, not 2 x 10,000 fds.
            for done, node in enumerate(plan.nodes, 1):
                with nsutil.entered(fds[node.name]):
                    sock = rtnl.open_socket()
                    ioctl_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    _configure(node, sock, ioctl_sock)
                finally:
                    sock.close()
                    ioctl_sock.close()
                if done % 50 == 0 or done == total:
                    progress("addresses", done, total)
            for node in plan.nodes:
                sysctls.submit(fds[node.name], node.name, _sysctls(node, early=False))
    except rtnl.NetlinkError as err:
        raise InfrastructureError(f"the kernel refused to {err.what}: {err.strerror}") from None
    except OSError as err:
        raise InfrastructureError(f"wiring the lab failed: {err}") from None
    finally:
        if relay_fd >= 0:
            os.close(relay_fd)


def _relay_namespace(name: str) -> int:
    """The relay's namespace, made here for both backends: silent (no IPv6, so no MLD or ND of its own)."""
    nsutil.prepare_netns_dir()  # the docker backend has not needed /run/netns so far
    fd = nsutil.create_netns(name)
    with nsutil.entered(fd):
        for key in ("all", "default"):
            with open(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6", "w") as f:
                f.write("1")
    return fd


def _relay_links_up(relay, relay_fd: int) -> None:
    with nsutil.entered(relay_fd):
        sock = rtnl.open_socket()
    try:
        batch = rtnl.Batch(sock)
        for relayed in relay.links:
            batch.link_up(relayed.a_side_index, relayed.a_side)
            batch.link_up(relayed.b_side_index, relayed.b_side)
        batch.commit()
    finally:
        sock.close()


def _sysctls(node: PlanNode, early: bool) -> list[tuple[str, str]]:
    return [(k, v) for k, v in node.sysctls.items() if is_early(k) == early]


def _configure(node: PlanNode, sock: socket.socket, ioctl_sock: socket.socket) -> None:
    for iface in node.interfaces:
        _tx_checksum_off(ioctl_sock, iface.name)
    batch = rtnl.Batch(sock)
    batch.link_up(1, "lo")
    if node.bridge:
        batch.link_up(node.bridge_index, node.bridge)
    for iface in node.interfaces:
        batch.link_up(iface.index, iface.name, master=node.bridge_index)
    for iface in node.interfaces:
        for cidr in (*iface.ipv4, *iface.ipv6):
            batch.address(iface.index, iface.name, cidr)
    for route in node.routes:
        batch.route(route.to, route.via)
    try:
        batch.commit()
    except rtnl.NetlinkError as err:
        raise InfrastructureError(f"node {node.name}: the kernel refused to {err.what}: {err.strerror}") from None


def _tx_checksum_off(sock: socket.socket, ifname: str) -> None:
    """So what a raw socket sends is what a capture shows: checksums computed in software."""
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(value)).ljust(40, b"\0")
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)


def kill_processes(pids: list[int], netns_paths: list[str]) -> None:
    """SIGKILL given process groups and every process living in these namespaces."""
    victims = set(pids) | set(nsutil.pids_in_netns(netns_paths))
    victims.discard(os.getpid())
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while victims and time.monotonic() < deadline:
        victims = {p for p in victims if os.path.exists(f"/proc/{p}") and _not_zombie(p)}
        if victims:
            time.sleep(0.01)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


