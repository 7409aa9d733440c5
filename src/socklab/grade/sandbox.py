"""The sandbox around student programs: an unprivileged uid, rlimits, only CAP_NET_RAW if allowed.

Each grading job has its own uid, so one submission's processes can neither read another's
workspace nor count against its process limit, and a fork bomb stops at `processes`.
The lab namespace already gives no route out and no view of other instances.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from socklab.errors import InfrastructureError
from socklab.model.grading import Limits
from socklab.model.lab import Step

SANDBOX_UID_BASE = 61000
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Sandbox:
    uid: int
    limits: Limits
    student_steps: set[str]  # ids of steps that run submitted files
    raw_nodes: set[str]  # nodes whose programs may open raw and packet sockets

    def prepare(self, workspace: Path) -> None:
        """The workspace belongs to the student uid, group root (mode 0770): no other student
        can enter it, and the lab's own steps can, even as a container root without
        CAP_DAC_OVERRIDE (docker backend)."""
        for root, dirs, files in os.walk(workspace):
            for name in (*dirs, *files):
                os.lchown(os.path.join(root, name), self.uid, 0)
        os.chown(workspace, self.uid, 0)
        os.chmod(workspace, 0o770)

    def wrap(self, step: Step) -> list[str]:
        if step.id not in self.student_steps:
            return []
        caps = "+net_raw" if step.node in self.raw_nodes else ""
        lim = self.limits
        return [
            "prlimit", f"--nproc={lim.processes}", f"--as={lim.memory}", f"--cpu={max(1, round(lim.cpu))}",
            f"--fsize={lim.file_size}", f"--nofile={lim.open_files}", "--core=0", "--",
            "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
            f"--inh-caps=-all{',' + caps if caps else ''}", f"--bounding-set=-all{',' + caps if caps else ''}",
            *([f"--ambient-caps=-all,{caps}"] if caps else []), "--",
        ]

    def finish(self) -> None:
        """Kill whatever still runs as the student uid, and wait until it is gone."""
        kill_uid(self.uid)

    def env(self) -> dict[str, str]:
        """Student programs run the system's python3, not socklab's venv (which may be private)."""
        return {"PATH": SYSTEM_PATH}


def check_tools() -> None:
    for tool in ("prlimit", "setpriv"):
        if shutil.which(tool) is None:
            raise InfrastructureError(f"{tool} is missing (Debian package util-linux); the sandbox needs it")


def kill_uid(uid: int, timeout: float = 5.0) -> None:
    import signal
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
        time.sleep(0.01)


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == uid:
                                pids.append(int(entry))
                            break
            except OSError:
                pass
    return pids
