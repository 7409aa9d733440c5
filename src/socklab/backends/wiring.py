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
from socklab.plan import Plan, PlanInterface, PlanLink, PlanNode, PlanRelayLink
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


WINDOW = 256  # nodes per round of wiring: links made, then brought up, then configured


def wire_namespaces(plan: Plan, fds: dict[str, int], progress: Progress = no_progress) -> None:
    """Realise the plan's network in existing, empty namespaces: one open fd per node.

    Shared by both backends (the docker backend passes its containers' namespaces):
    early sysctls, bridges, then in rounds of WINDOW nodes (in plan order): the veth pairs
    whose later end is in the round, in one batch with both ends born in their namespaces;
    then each node whose links all exist gets offloads, links up, addresses, routes and
    late sysctls, and a node still waiting for links gets its new interfaces up at once.
    Raises InfrastructureError naming what the kernel refused.

    Why rounds (issue 15): every new veth end joins the kernel's link-watch list, and until
    it is up each pass of the link-watch worker walks it (holding the rtnl lock that every
    request needs); with every veth made before any is up, that was quadratic: a 10,000-node
    up spent 5 s more on addresses than ten 1000-node ones. In rounds, at most the links of
    a round and those waiting for a later node are down at any time.
    """
    total = len(plan.nodes)
    relay_fd = -1
    try:
        with SysctlWriter() as sysctls:
            # 1. early sysctls, in a second thread, while the batch below is encoded
            for node in plan.nodes:
                sysctls.submit(fds[node.name], node.name, _sysctls(node, early=True))
            if plan.relay is not None:  # impaired links meet in the relay's namespace (socklab.impair)
                relay_fd = _relay_namespace(plan.relay.netns)
            rounds = _Rounds(plan)
            root = rtnl.open_socket()
            try:
                batch = rtnl.Batch(root)
                for node in plan.nodes:
                    if node.bridge:
                        batch.bridge(node.bridge, node.bridge_index, fds[node.name])
                sysctls.wait()  # default.* before the interfaces that inherit them exist
                batch.commit()
                made = configured = 0
                for window in rounds.windows():
                    # 2. this round's veth pairs, from the root namespace, each born in its namespaces
                    relayed_here = []
                    for link in window.links:
                        ia, ib = rounds.ends(link)
                        a_fd, b_fd = fds[ia.node], fds[ib.node]
                        relayed = rounds.relayed(link)
                        if relayed is None:
                            batch.veth(ia.iface.name, a_fd, ia.iface.index, ia.iface.mac, ia.iface.mtu,
                                       ib.iface.name, b_fd, ib.iface.index, ib.iface.mac)
                            continue
                        # an impaired link: two veths, a <-> relay:a_side and relay:b_side <-> b
                        batch.veth(ia.iface.name, a_fd, ia.iface.index, ia.iface.mac, ia.iface.mtu,
                                   relayed.a_side, relay_fd, relayed.a_side_index, relayed.a_side_mac)
                        batch.veth(relayed.b_side, relay_fd, relayed.b_side_index, relayed.b_side_mac, ib.iface.mtu,
                                   ib.iface.name, b_fd, ib.iface.index, ib.iface.mac)
                        relayed_here.append(relayed)
                    batch.commit()
                    made += len(window.links)
                    if relayed_here:
                        _relay_links_up(relayed_here, relay_fd)
                    progress("links", made, len(plan.links))
                    # 3. nodes waiting for later links: their new interfaces up now
                    for name, ifaces in window.early.items():
                        node = plan.node(name)
                        _in_namespace(fds[name], lambda sock, _ioctl, n=node, i=ifaces: _links_up(n, i, sock))
                    # 4. nodes whose links all exist: offloads, links up, addresses, routes, late sysctls.
                    # Their two sockets live only meanwhile: one per node at a time, not 2 x 10,000 fds.
                    for node in window.complete:
                        _in_namespace(fds[node.name], lambda sock, ioctl, n=node: _configure(n, sock, ioctl))
                        sysctls.submit(fds[node.name], node.name, _sysctls(node, early=False))
                        configured += 1
                        if configured % 50 == 0 or configured == total:
                            progress("addresses", configured, total)
            finally:
                root.close()
    except rtnl.NetlinkError as err:
        raise InfrastructureError(f"the kernel refused to {err.what}: {err.strerror}") from None
    except OSError as err:
        raise InfrastructureError(f"wiring the lab failed: {err}") from None
    finally:
        if relay_fd >= 0:
            os.close(relay_fd)


class _End:
    __slots__ = ("node", "iface")

    def __init__(self, node: str, iface: PlanInterface):
        self.node, self.iface = node, iface


class _Window:
    __slots__ = ("links", "early", "complete")

    def __init__(self) -> None:
        self.links: list[PlanLink] = []
        self.early: dict[str, list[PlanInterface]] = {}  # node -> interfaces made here, node not complete yet
        self.complete: list[PlanNode] = []


class _Rounds:
    """The plan cut into rounds of WINDOW nodes: which links to make, which nodes to finish, in each.

    A link is made in the round of its later end (plan order); a node is finished in the
    round where its last link is made (or its own, without links). Indexed once: every
    lookup is constant time, for any topology (a star's switch has every interface).
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        self.pos = {n.name: i for i, n in enumerate(plan.nodes)}
        self.ifaces = {(n.name, i.name): i for n in plan.nodes for i in n.interfaces}
        self._relay = {lk.index: lk for lk in plan.relay.links} if plan.relay is not None else {}
        self._ends = {}
        finish = {n.name: i for i, n in enumerate(plan.nodes)}  # the round a node is finished in, by position
        for link in plan.links:
            a, b = self.ends(link)
            key = max(self.pos[a.node], self.pos[b.node])
            for end in (a, b):
                finish[end.node] = max(finish[end.node], key)
        self.finish = finish

    def ends(self, link: PlanLink) -> tuple[_End, _End]:
        found = self._ends.get(link.index)
        if found is None:
            a_node, a_if = link.a.split(":")
            b_node, b_if = link.b.split(":")
            found = self._ends[link.index] = (_End(a_node, self.ifaces[a_node, a_if]),
                                              _End(b_node, self.ifaces[b_node, b_if]))
        return found

    def relayed(self, link: PlanLink) -> PlanRelayLink | None:
        return self._relay.get(link.index)

    def windows(self) -> list[_Window]:
        windows = [_Window() for _ in range(max(1, -(-len(self.plan.nodes) // WINDOW)))]
        for link in self.plan.links:
            a, b = self.ends(link)
            here = max(self.pos[a.node], self.pos[b.node]) // WINDOW
            windows[here].links.append(link)
            for end in (a, b):
                if self.finish[end.node] // WINDOW != here:
                    windows[here].early.setdefault(end.node, []).append(end.iface)
        for node in self.plan.nodes:
            windows[self.finish[node.name] // WINDOW].complete.append(node)
        return windows


def _in_namespace(fd: int, work) -> None:
    """work(netlink socket, ioctl socket) with both sockets opened inside the namespace fd."""
    with nsutil.entered(fd):
        sock = rtnl.open_socket()
        ioctl_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        work(sock, ioctl_sock)
    finally:
        sock.close()
        ioctl_sock.close()


def _links_up(node: PlanNode, ifaces: list[PlanInterface], sock: socket.socket) -> None:
    """Bring up interfaces of a node whose other links come later (the bridge first, for its ports)."""
    batch = rtnl.Batch(sock)
    if node.bridge:
        batch.link_up(node.bridge_index, node.bridge)
    for iface in ifaces:
        batch.link_up(iface.index, iface.name, master=node.bridge_index)
    try:
        batch.commit()
    except rtnl.NetlinkError as err:
        raise InfrastructureError(f"node {node.name}: the kernel refused to {err.what}: {err.strerror}") from None


def _relay_namespace(name: str) -> int:
    """The relay's namespace, made here for both backends: silent (no IPv6, so no MLD or ND of its own)."""
    nsutil.prepare_netns_dir()  # the docker backend has not needed /run/netns so far
    fd = nsutil.create_netns(name)
    with nsutil.entered(fd):
        for key in ("all", "default"):
            with open(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6", "w") as f:
                f.write("1")
    return fd


def _relay_links_up(links: list[PlanRelayLink], relay_fd: int) -> None:
    with nsutil.entered(relay_fd):
        sock = rtnl.open_socket()
    try:
        batch = rtnl.Batch(sock)
        for relayed in links:
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


