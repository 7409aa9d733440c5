"""The netns backend: one network namespace per node, veth pairs, bridges for switches.

Built without forking and without `ip`: namespaces are made from this thread
(nsutil), every veth pair is born with both ends already in their namespaces
(so a crash never strands one in the root namespace), and all configuration goes to
the kernel in a few batched netlink writes (rtnl). Nothing is ever created in the
root namespace, so lab nodes have no link to it and no route out.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from socklab import nsutil, rtnl
from socklab.backends.base import Progress, no_progress
from socklab.errors import InfrastructureError
from socklab.names import instance_of_netns
from socklab.plan import Plan, PlanNode
from socklab.state import Record, instance_dir
from socklab.sysctl import SysctlWriter, is_early

ETC_NETNS = Path("/etc/netns")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SRC_DIR = Path(__file__).resolve().parents[2]
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
REMOVERS = 16  # threads unmounting namespaces on down


def hosts_file_path(instance: str) -> Path:
    """The instance's one hosts file, shared by every node (netns: through /etc/netns; docker: bind-mounted)."""
    return instance_dir(instance) / "etc" / "hosts"


class NetnsBackend:
    name = "netns"

    def check(self) -> None:
        if os.geteuid() != 0:
            raise InfrastructureError("the netns backend needs root (network namespaces); run with sudo")

    def claim(self, plan: Plan, record: Record) -> None:
        record.netns = [n.netns for n in plan.nodes]
        record.files = [str(ETC_NETNS / n.netns) for n in plan.nodes]

    def exec_prefix(self, plan: Plan, node: str, interactive: bool = False) -> list[str]:
        netns = plan.node(node).netns
        _link_etc(plan.instance, netns)
        return ["ip", "netns", "exec", netns]

    def netns_path(self, plan: Plan, node: str) -> str:
        return nsutil.netns_path(plan.node(node).netns)

    def workspace_root(self, plan: Plan) -> Path | None:
        """Nodes share the host's filesystem: workspaces stay in the run folder."""
        return None

    def node_env(self) -> dict[str, str]:
        """Nodes run socklab's own Python (scapy, socklab.agents) unless a sandbox says otherwise."""
        return {"PATH": f"{Path(sys.executable).parent}:{SYSTEM_PATH}", "PYTHONPATH": str(SRC_DIR)}

    def stop_processes(self, plan: Plan) -> None:
        kill_processes([], [nsutil.netns_path(n.netns) for n in plan.nodes])

    # -- up ---------------------------------------------------------------------------------

    def deploy(self, plan: Plan, progress: Progress = no_progress) -> None:
        nsutil.raise_fd_limit()
        nsutil.prepare_netns_dir()
        fds: dict[str, int] = {}
        total = len(plan.nodes)
        # The namespaces' mount points are made by a second thread meanwhile: creating a
        # file can cost more than a namespace (bench/topology.py).
        try:
            _write_hosts(plan)
            with nsutil.MountPoints([n.netns for n in plan.nodes]) as mount_points:
                for done, node in enumerate(plan.nodes, 1):
                    fds[node.name] = nsutil.create_netns(node.netns, mount_points)
                    if done % 50 == 0 or done == total:
                        progress("namespaces", done, total)
            wire_namespaces(plan, fds, progress)
        except OSError as err:
            raise InfrastructureError(f"building the lab failed: {err}") from None
        finally:
            for fd in fds.values():
                os.close(fd)

    # -- down -------------------------------------------------------------------------------

    def destroy(self, record: Record) -> None:
        paths = [nsutil.netns_path(n) for n in record.netns if os.path.exists(nsutil.netns_path(n))]
        kill_processes([*record.pids], paths)
        files = _Beside(_remove_paths, record.files)  # other folders: in parallel
        try:
            # Each unmount waits for an RCU grace period; concurrent ones share it (5x faster).
            with cf.ThreadPoolExecutor(max_workers=REMOVERS, thread_name_prefix="socklab-rm") as pool:
                list(pool.map(nsutil.remove_netns, record.netns))
        finally:
            files.join()
        files.wait()

    def orphans(self, claimed: set[str]) -> list[str]:
        # only names socklab itself forms (sl-<instance>.<node>), never another tool's sl-something
        found = [n for n in nsutil.list_netns() if instance_of_netns(n) and n not in claimed]
        if ETC_NETNS.is_dir():
            found += [
                str(p) for p in sorted(ETC_NETNS.iterdir()) if instance_of_netns(p.name) and str(p) not in claimed
            ]
        return found

    def remove_orphans(self, objects: list[str]) -> None:
        namespaces = [o for o in objects if not o.startswith("/")]
        kill_processes([], [nsutil.netns_path(n) for n in namespaces])
        for obj in objects:
            if obj.startswith("/"):
                _remove_path(Path(obj))
            else:
                nsutil.remove_netns(obj)


def _write_hosts(plan: Plan) -> None:
    """The instance's one hosts file, in the folder every /etc/netns/<ns> will link to."""
    hosts = hosts_file_path(plan.instance)
    hosts.parent.mkdir(parents=True, exist_ok=True)
    hosts.write_text(plan.hosts_file())


def _link_etc(instance: str, netns: str) -> None:
    """/etc/netns/<ns> -> the instance's etc folder, made when a command first runs in the node.

    `ip netns exec` bind-mounts each file of /etc/netns/<ns>/ over /etc/, so the node sees
    the instance's hosts file. Made on demand, a 10,000-node lab whose commands run in
    two nodes costs two symlinks, not 10,000 (the ledger claims them all beforehand).
    """
    target, link = str(hosts_file_path(instance).parent), str(ETC_NETNS / netns)
    try:
        os.symlink(target, link)
    except FileNotFoundError:
        ETC_NETNS.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
    except FileExistsError:
        if not (os.path.islink(link) and os.readlink(link) == target):
            raise InfrastructureError(f"{link} exists and is not socklab's; remove it to run commands in {netns}") from None


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


class _Beside(threading.Thread):
    """fn(*args) in a second thread, started at once; wait() joins it and re-raises its error."""

    def __init__(self, fn, *args):
        super().__init__(name=f"socklab-{fn.__name__}", daemon=True)
        self._fn, self._args = fn, args
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._fn(*self._args)
        except BaseException as err:  # handed to wait()
            self._error = err

    def wait(self) -> None:
        self.join()
        if self._error is not None:
            raise self._error


def _remove_paths(paths: list[str]) -> None:
    for path in paths:
        _remove_path(Path(path))


def _remove_path(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
