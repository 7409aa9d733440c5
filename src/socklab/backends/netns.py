"""The netns backend: one network namespace per node, veth pairs, bridges for switches.

Built without forking and without `ip`: namespaces are made from this thread
(nsutil), every veth pair is born with both ends already in their namespaces
(so a crash never strands one in the root namespace), and all configuration goes to
the kernel in a few batched netlink writes (rtnl). Nothing is ever created in the
root namespace, so lab nodes have no link to it and no route out.
"""

from __future__ import annotations

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

ETC_NETNS = Path("/etc/netns")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SRC_DIR = Path(__file__).resolve().parents[2]
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17


def hosts_file_path(instance: str) -> Path:
    return instance_dir(instance) / "hosts"


class NetnsBackend:
    name = "netns"

    def check(self) -> None:
        if os.geteuid() != 0:
            raise InfrastructureError("the netns backend needs root (network namespaces); run with sudo")

    def claim(self, plan: Plan, record: Record) -> None:
        record.netns = [n.netns for n in plan.nodes]
        record.files = [str(ETC_NETNS / n.netns) for n in plan.nodes]

    def exec_prefix(self, plan: Plan, node: str, interactive: bool = False) -> list[str]:
        return ["ip", "netns", "exec", plan.node(node).netns]

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
        # Plain files (hosts files, the namespaces' mount points) are made by two more
        # threads meanwhile: creating a file can cost more than a namespace (bench/topology.py).
        hosts = _Beside(self._write_hosts, plan)
        try:
            with nsutil.MountPoints([n.netns for n in plan.nodes]) as mount_points:
                for done, node in enumerate(plan.nodes, 1):
                    fds[node.name] = nsutil.create_netns(node.netns, mount_points)
                    if done % 50 == 0 or done == total:
                        progress("namespaces", done, total)
            wire_namespaces(plan, fds, progress)
            hosts.wait()
        except OSError as err:
            raise InfrastructureError(f"building the lab failed: {err}") from None
        finally:
            hosts.join()
            for fd in fds.values():
                os.close(fd)

    def _write_hosts(self, plan: Plan) -> None:
        """One hosts file per instance; `ip netns exec` bind-mounts /etc/netns/<ns>/hosts."""
        hosts = hosts_file_path(plan.instance)
        hosts.parent.mkdir(parents=True, exist_ok=True)
        hosts.write_text(plan.hosts_file())
        ETC_NETNS.mkdir(parents=True, exist_ok=True)
        target, etc = str(hosts), str(ETC_NETNS)
        for node in plan.nodes:
            folder = os.path.join(etc, node.netns)
            try:
                os.mkdir(folder)
            except FileExistsError:
                if not os.path.isdir(folder):
                    raise
            with contextlib.suppress(FileExistsError):
                os.symlink(target, os.path.join(folder, "hosts"))

    # -- down -------------------------------------------------------------------------------

    def destroy(self, record: Record) -> None:
        paths = [nsutil.netns_path(n) for n in record.netns if os.path.exists(nsutil.netns_path(n))]
        kill_processes([*record.pids], paths)
        files = _Beside(_remove_paths, record.files)  # other folders: in parallel
        try:
            for name in record.netns:
                nsutil.remove_netns(name)
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


def wire_namespaces(plan: Plan, fds: dict[str, int], progress: Progress = no_progress) -> None:
    """Realise the plan's network in existing, empty namespaces: one open fd per node.

    Shared by both backends (the docker backend passes its containers' namespaces):
    early sysctls, bridges, every veth pair in one batch with both ends born in their
    namespaces, then offloads, links up, addresses, routes and late sysctls.
    Raises InfrastructureError naming what the kernel refused.
    """
    nodes = {n.name: n for n in plan.nodes}
    socks: dict[str, socket.socket] = {}
    ioctl_socks: dict[str, socket.socket] = {}
    total = len(plan.nodes)
    relay_fd, relay_sock = -1, None
    try:
        # 1. a netlink socket in each namespace, and its early sysctls
        for node in plan.nodes:
            with nsutil.entered(fds[node.name]):
                socks[node.name] = rtnl.open_socket()
                ioctl_socks[node.name] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                _write_sysctls(node, early=True)
        # 2. bridges, then every veth pair in one batch from the root namespace
        for node in plan.nodes:
            if node.bridge:
                batch = rtnl.Batch(socks[node.name])
                batch.bridge(node.bridge, index=node.bridge_index)
                batch.commit()
        if plan.relay is not None:
            relay_fd = _relay_namespace(plan.relay.netns)
            with nsutil.entered(relay_fd):
                relay_sock = rtnl.open_socket()
        root = rtnl.open_socket()
        try:
            batch = rtnl.Batch(root)
            for link in plan.links:
                a_node, a_if = link.a.split(":")
                b_node, b_if = link.b.split(":")
                a, b = nodes[a_node], nodes[b_node]
                ia, ib = a.interface(a_if), b.interface(b_if)
                relayed = plan.relay.link(link.index) if plan.relay is not None else None
                if relayed is None:
                    batch.veth(
                        ia.name, fds[a_node], _ifindex(a, a_if), ia.mac, ia.mtu,
                        ib.name, fds[b_node], _ifindex(b, b_if), ib.mac,
                    )
                    continue
                # an impaired link: two veths meeting in the relay namespace (socklab.impair)
                batch.veth(ia.name, fds[a_node], _ifindex(a, a_if), ia.mac, ia.mtu,
                           relayed.a_side, relay_fd, relayed.a_side_index, relayed.a_side_mac)
                batch.veth(relayed.b_side, relay_fd, relayed.b_side_index, relayed.b_side_mac, ib.mtu,
                           ib.name, fds[b_node], _ifindex(b, b_if), ib.mac)
            batch.commit()
        finally:
            root.close()
        if plan.relay is not None:
            batch = rtnl.Batch(relay_sock)
            for relayed in plan.relay.links:
                batch.link_up(relayed.a_side_index, relayed.a_side)
                batch.link_up(relayed.b_side_index, relayed.b_side)
            batch.commit()
        progress("links", len(plan.links), len(plan.links))
        # 3. inside each namespace: offloads, links up, addresses, routes, late sysctls
        for done, node in enumerate(plan.nodes, 1):
            _configure(node, socks[node.name], ioctl_socks[node.name], fds[node.name])
            if done % 50 == 0 or done == total:
                progress("addresses", done, total)
    except rtnl.NetlinkError as err:
        raise InfrastructureError(f"the kernel refused to {err.what}: {err.strerror}") from None
    except OSError as err:
        raise InfrastructureError(f"wiring the lab failed: {err}") from None
    finally:
        for closable in (*socks.values(), *ioctl_socks.values()):
            closable.close()
        if relay_sock is not None:
            relay_sock.close()
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


def _ifindex(node: PlanNode, iface: str) -> int:
    return node.interface(iface).index


def _is_early(key: str) -> bool:
    """Sysctls naming one interface must wait until it exists; the rest apply before."""
    parts = key.split(".")
    if len(parts) >= 4 and parts[2] in ("conf", "neigh"):
        return parts[3] in ("all", "default")
    return True


def _write_sysctls(node: PlanNode, early: bool) -> None:
    for key, value in node.sysctls.items():
        if _is_early(key) != early:
            continue
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)  # open(path, "w")
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as err:
            raise InfrastructureError(f"node {node.name}: cannot set sysctl {key}={value}: {err.strerror}") from None


def _configure(node: PlanNode, sock: socket.socket, ioctl_sock: socket.socket, fd: int) -> None:
    for iface in node.interfaces:
        _tx_checksum_off(ioctl_sock, iface.name)
    batch = rtnl.Batch(sock)
    batch.link_up(1, "lo")
    if node.bridge:
        batch.link_up(node.bridge_index, node.bridge)
    for iface in node.interfaces:
        batch.link_up(_ifindex(node, iface.name), iface.name, master=node.bridge_index)
    for iface in node.interfaces:
        for cidr in (*iface.ipv4, *iface.ipv6):
            batch.address(_ifindex(node, iface.name), iface.name, cidr)
    for route in node.routes:
        batch.route(route.to, route.via)
    try:
        batch.commit()
    except rtnl.NetlinkError as err:
        raise InfrastructureError(f"node {node.name}: the kernel refused to {err.what}: {err.strerror}") from None
    if any(not _is_early(k) for k in node.sysctls):
        with nsutil.entered(fd):
            _write_sysctls(node, early=False)


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
