"""The netns backend: one network namespace per node, veth pairs, bridges for switches.

Built without forking and without `ip`: namespaces are made from this thread
(nsutil), every veth pair is born with both ends already in their namespaces
(so a crash never strands one in the root namespace), and all configuration goes to
the kernel in a few batched netlink writes (rtnl). Nothing is ever created in the
root namespace, so lab nodes have no link to it and no route out.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
import sys
import threading
from pathlib import Path

from socklab import nsutil
from socklab.backends.base import NAMESPACES, NodeAccess, Progress, no_progress
from socklab.backends.wiring import hosts_file_path, kill_processes, wire_namespaces, write_hosts
from socklab.errors import InfrastructureError
from socklab.names import instance_of_netns
from socklab.plan import Plan
from socklab.state import Owned, Record

ETC_NETNS = Path("/etc/netns")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SRC_DIR = Path(__file__).resolve().parents[2]
REMOVERS = 64  # threads unmounting namespaces on down (each waits for an RCU grace period; they share it)


class NetnsBackend:
    name = "netns"

    def check(self) -> None:
        if os.geteuid() != 0:
            raise InfrastructureError("the netns backend needs root (network namespaces); run with sudo")

    def claim(self, plan: Plan, record: Record) -> None:
        record.owned = [Owned("netns", n.netns) for n in plan.nodes]
        record.owned += [Owned("file", str(ETC_NETNS / n.netns)) for n in plan.nodes]

    def node(self, plan: Plan, node: str, interactive: bool = False) -> NodeAccess:
        """`ip netns exec`; socklab's own Python (scapy, socklab.agents) unless a sandbox says otherwise.

        Nodes share the host's filesystem: workspaces stay in the run folder."""
        netns = plan.node(node).netns
        _link_etc(plan.instance, netns)
        env = {"PATH": f"{Path(sys.executable).parent}:{SYSTEM_PATH}", "PYTHONPATH": str(SRC_DIR)}
        return NodeAccess(argv=["ip", "netns", "exec", netns], env=env)

    def netns_path(self, plan: Plan, node: str) -> str:
        return nsutil.netns_path(plan.node(node).netns)

    # -- up ---------------------------------------------------------------------------------

    def deploy(self, plan: Plan, progress: Progress = no_progress) -> None:
        nsutil.raise_fd_limit()
        nsutil.prepare_netns_dir()
        fds: dict[str, int] = {}
        total = len(plan.nodes)
        # The namespaces' mount points are made by a second thread meanwhile: creating a
        # file can cost more than a namespace (bench/topology.py).
        try:
            write_hosts(plan)
            with nsutil.MountPoints([n.netns for n in plan.nodes]) as mount_points:
                for done, node in enumerate(plan.nodes, 1):
                    fds[node.name] = nsutil.create_netns(node.netns, mount_points)
                    if done % 50 == 0 or done == total:
                        progress(NAMESPACES, done, total)
            wire_namespaces(plan, fds, progress)
        except OSError as err:
            raise InfrastructureError(f"building the lab failed: {err}") from None
        finally:
            for fd in fds.values():
                os.close(fd)

    # -- down -------------------------------------------------------------------------------

    def destroy(self, record: Record) -> None:
        namespaces = record.names("netns")
        paths = [nsutil.netns_path(n) for n in namespaces if os.path.exists(nsutil.netns_path(n))]
        kill_processes([*record.pids], paths)
        files = _Beside(_remove_paths, record.names("file"))  # other folders: in parallel
        # Held open while unmounting, closed together after: the namespaces die at once, in one
        # batch of the kernel's cleanup_net, instead of one by one as each unmount completes
        # (each dying batch walks every live namespace: one by one is quadratic, 3 s of CPU at
        # 10,000 nodes, and it delays the grace periods the unmounts wait for).
        held = nsutil.hold_all(paths)
        try:
            with cf.ThreadPoolExecutor(max_workers=REMOVERS, thread_name_prefix="socklab-rm") as pool:
                list(pool.map(nsutil.remove_netns, namespaces))
        finally:
            nsutil.release_all(held)
            files.join()
        files.wait()

    def orphans(self, claimed: set[Owned]) -> list[Owned]:
        # only names socklab itself forms (sl-<instance>.<node>), never another tool's sl-something
        found = [Owned("netns", n) for n in nsutil.list_netns() if instance_of_netns(n)]
        if ETC_NETNS.is_dir():
            found += [Owned("file", str(p)) for p in sorted(ETC_NETNS.iterdir()) if instance_of_netns(p.name)]
        return [o for o in found if o not in claimed]


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
