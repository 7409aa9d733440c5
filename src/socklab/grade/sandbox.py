"""The sandbox around programs of a graded run: a private view, a cgroup, an unprivileged uid.

On the netns backend every step of a graded run starts in a private view (bubblewrap, see
socklab.sandbox.view) inside its node's network namespace: student programs as the slot's
own uid with no capability but CAP_NET_RAW where the lab allows raw sockets; the lab's own
programs (a DNS server, a UDP server) as root with only CAP_NET_RAW and
CAP_NET_BIND_SERVICE. Neither sees the lab's solution, other submissions or run folders.
On the docker backend the node's container is the view.

Each graded submission gets a cgroup where cgroups exist (resident memory, processes, CPU,
killed as a group); where none can be made, RLIMIT_AS bounds the address space instead,
and the run says which was used. rlimits bound processes per uid (a fork bomb stops at
`processes`), CPU seconds per process, file size and open files, and forbid core dumps.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from socklab.backends.netns import SYSTEM_PATH
from socklab.errors import InfrastructureError
from socklab.model.grading import Limits
from socklab.model.lab import Step
from socklab.sandbox import cgroups, view

if TYPE_CHECKING:
    from socklab.deployment import Deployment
    from socklab.steps import StepResult

SANDBOX_UID_BASE = 61000
LAB_CAPS = ("CAP_NET_RAW", "CAP_NET_BIND_SERVICE")
STEP_MARK = "SOCKLAB_STEP"
CGROUP_CPUS = 1.0  # a submission's programs share at most one core
CGROUP_EXTRA_PIDS = 16  # the view's own processes (bwrap and its init, per step) beside `processes`


@dataclass(frozen=True)
class Isolation:
    """What grading puts around programs. Both on by default; off only to measure their cost."""

    view: bool = True  # private view (bubblewrap) on the netns backend
    cgroups: bool = True  # a cgroup per submission where cgroups exist


FULL = Isolation()


@dataclass
class Sandbox:
    uid: int
    limits: Limits
    student_steps: set[str]  # ids of steps that run submitted files
    raw_nodes: set[str]  # nodes whose programs may open raw and packet sockets
    isolation: Isolation = FULL
    student_nodes: set[str] = field(default_factory=set)  # nodes where student steps run (docker limits)
    # decided by prepare()
    workspace: Path | None = None
    backend: str = ""
    group: cgroups.Cgroup | None = None
    node_groups: dict[str, cgroups.Cgroup] = field(default_factory=dict)  # docker: the containers' cgroups
    limits_used: str = "rlimit"
    _fds: dict[str, list[int]] = field(default_factory=dict)  # view options not yet handed over
    _oom_seen: dict[str, int] = field(default_factory=dict)  # OOM kills already explained, per cgroup
    _dep: Deployment | None = None

    @property
    def private_view(self) -> bool:
        return self.isolation.view and self.backend == "netns"

    def prepare(self, workspace: Path, dep: Deployment) -> None:
        """The workspace belongs to the student uid, group root (mode 0770): no other student
        can enter it, and the lab's own steps can, even as a root without CAP_DAC_OVERRIDE.
        Then the submission's cgroup (or the note why there is none)."""
        for root, dirs, files in os.walk(workspace):
            for name in (*dirs, *files):
                os.lchown(os.path.join(root, name), self.uid, 0)
        os.chown(workspace, self.uid, 0)
        os.chmod(workspace, 0o770)
        self.workspace, self.backend, self._dep = workspace, dep.backend.name, dep
        if self.private_view:
            view.check()
        if not self.isolation.cgroups:
            self.limits_used = "rlimit (cgroups turned off)"
            return
        lim = self.limits
        if self.backend == "docker":
            self._limit_containers(dep)
            return
        try:
            self.group = cgroups.create(dep.instance, lim.memory, lim.processes + CGROUP_EXTRA_PIDS, CGROUP_CPUS)
            self.limits_used = self.group.label
        except cgroups.NoCgroup as err:
            self.limits_used = f"rlimit (no cgroup: {err})"

    def _limit_containers(self, dep: Deployment) -> None:
        """docker: each node is a container with a cgroup of its own; bound those running student code."""
        lim = self.limits
        try:
            for node in sorted(self.student_nodes):
                pid = int(dep.netns_path(node).split("/")[2])
                group = cgroups.of_process(pid)
                cgroups.set_limits(group, lim.memory, lim.processes + CGROUP_EXTRA_PIDS, CGROUP_CPUS)
                self.node_groups[node] = group
            self.limits_used = f"container {next(iter(self.node_groups.values())).label}" if self.node_groups \
                else "container cgroup"
        except (cgroups.NoCgroup, OSError, ValueError, IndexError) as err:
            self.node_groups = {}
            self.limits_used = f"rlimit (no container cgroup: {err})"

    def wrap(self, step: Step, where: Path) -> list[str]:
        student = step.id in self.student_steps
        if not student:  # the lab's programs, and reference peers (in a folder of their own)
            if self.private_view:
                return self._view(step, where, LAB_CAPS)
            return []
        caps = "+net_raw" if step.node in self.raw_nodes else ""
        lim = self.limits
        bounded = self.group is not None or bool(self.node_groups)
        argv = [
            "prlimit", f"--nproc={lim.processes}", *([] if bounded else [f"--as={lim.memory}"]),
            f"--cpu={max(1, round(lim.cpu))}", f"--fsize={lim.file_size}", f"--nofile={lim.open_files}",
            "--core=0", "--",
        ]
        if self.private_view and self.workspace is not None:
            argv += self._view(step, self.workspace, None)
        return [
            *argv,
            "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
            f"--inh-caps=-all{',' + caps if caps else ''}", f"--bounding-set=-all{',' + caps if caps else ''}",
            *([f"--ambient-caps=-all,{caps}"] if caps else []), "--",
            # docker: no PID namespace per step; this mark lets ended() find what the step left
            *(["env", f"{STEP_MARK}={step.id}"] if self.backend == "docker" else []),
        ]

    def _view(self, step: Step, where: Path, caps: tuple[str, ...] | None) -> list[str]:
        argv, fd = view.bwrap_argv(where, step.node, caps)
        self._fds.setdefault(step.id, []).append(fd)
        return argv

    def pass_fds(self, step: Step) -> tuple[int, ...]:
        """The view's options (a memfd per step), handed to bwrap once; the runner closes them."""
        return tuple(self._fds.pop(step.id, ()))

    def host_wrap(self, step: Step) -> list[str]:
        """Student programs join the submission's cgroup before entering their node (whose
        mount namespace may not show /sys/fs/cgroup), so all they start is counted."""
        if self.group is not None and step.id in self.student_steps:
            return self.group.join_argv()
        return []

    def env(self) -> dict[str, str]:
        """Wrapped programs run the system's python3 (with Debian's scapy), never socklab's venv."""
        return {"PATH": SYSTEM_PATH, **(view.env() if self.private_view else {})}

    def exit_code(self, step: Step, code: int | None) -> int | None:
        """bwrap and docker exec report a program killed by signal N as 128+N: say it as Popen does (-N)."""
        wrapped = self.private_view or (self.backend == "docker" and step.id in self.student_steps)
        if code is not None and 128 < code < 160 and wrapped:
            return -(code - 128)
        return code

    def ended(self, step: Step, result: StepResult) -> None:
        """After a step: nothing of it survives (docker), and a limit it hit is named."""
        student = result.id in self.student_steps
        if student and self.backend == "docker" and self._dep is not None:
            self._kill_in_node(step)
        group = self.group or self.node_groups.get(step.node)
        if not student or group is None:
            return
        ooms = group.oom_kills()
        if ooms > self._oom_seen.get(group.name, 0):
            self._oom_seen[group.name] = ooms
            note = f"killed: over the memory limit ({size_text(self.limits.memory)} resident)"
            result.problem = f"{result.problem}; {note}" if result.problem else note

    def _kill_in_node(self, step: Step) -> None:
        """Kill the processes this step left in its container (by uid and the step's mark)."""
        from socklab import nsutil

        assert self._dep is not None
        mark = f"{STEP_MARK}={step.id}\0".encode()
        with contextlib.suppress(OSError, InfrastructureError):
            path = self._dep.netns_path(step.node)
            for pid in nsutil.pids_in_netns([path]):
                if _uid_of(pid) == self.uid:
                    with contextlib.suppress(OSError):
                        if mark in Path(f"/proc/{pid}/environ").read_bytes():
                            os.kill(pid, signal.SIGKILL)

    def finish(self) -> None:
        """Kill whatever still runs in the submission's cgroup and remove it; then kill every
        process of its uid and wait until none shows in /proc (a killed daemon's zombie
        included, until init reaps it), so that nothing of the uid is left when the grading
        returns."""
        try:
            if self.group is not None:
                self.group.remove()
        finally:
            self.group = None
            kill_uid(self.uid)

    def describe(self) -> dict[str, str]:
        """What was used, for the run's results and the grade."""
        if self.private_view:
            seen = "private view (bubblewrap)"
        elif self.backend == "docker":
            seen = "container"
        else:
            seen = "host filesystem (private view turned off)"
        return {"view": seen, "limits": self.limits_used}


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):g} {unit}"
    return f"{n} bytes"


def check_tools() -> None:
    for tool in ("prlimit", "setpriv"):
        if shutil.which(tool) is None:
            raise InfrastructureError(f"{tool} is missing (Debian package util-linux); the sandbox needs it")


def kill_uid(uid: int, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        alive = _pids_of(uid)
        if not alive or time.monotonic() > deadline:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.002)  # what is left is mostly dying already (10 ms polls: finish 9.5 ms median, now 3.7)


def _uid_of(pid: int) -> int | None:
    """The real uid (not the owner of /proc/PID, which is root for a non-dumpable process)."""
    try:
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
        try:
            status = os.read(fd, 4096)
        finally:
            os.close(fd)
        start = status.index(b"\nUid:\t") + 6
        return int(status[start:status.index(b"\t", start)])
    except (OSError, ValueError):
        return None


def _pids_of(uid: int) -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and _uid_of(int(e)) == uid]
