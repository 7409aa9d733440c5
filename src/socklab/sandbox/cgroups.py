"""One cgroup per graded submission: resident memory, processes and CPU bounded, killed as a group.

cgroup v2 (current Debian and Ubuntu): /sys/fs/cgroup/socklab-<instance>, with memory.max
(resident memory, swap off), pids.max, cpu.max, and cgroup.kill (or freeze, kill, thaw).
cgroup v1 and hybrid hosts: a socklab-<instance> directory in each of the memory, pids,
freezer (and cpu, if mounted) hierarchies, under socklab's own cgroup there, with
memory.limit_in_bytes (+ memsw), pids.max, cpu.cfs_quota_us; killed by freezing the group,
killing every member, thawing. A memory limit on resident size lets a program reserve a
large address space (Go and Java runtimes do) as long as it touches little of it.

Programs join with a shell prefix that writes its own pid into cgroup.procs and execs the
program, so nothing runs outside the group, even for an instant.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "socklab-"
V1_CONTROLLERS = ("memory", "pids", "freezer", "cpu")
V1_REQUIRED = ("memory", "pids", "freezer")
V2_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD = 100_000


class NoCgroup(Exception):
    """Why no cgroup can be made here (the caller falls back to rlimits)."""


@dataclass
class Cgroup:
    name: str
    version: str  # "v2" or "v1"
    dirs: dict[str, Path]  # controller -> directory (v2: {"unified": dir})

    @property
    def label(self) -> str:
        return f"cgroup {self.version}"

    def join_argv(self) -> list[str]:
        """argv prefix: move into this cgroup, then exec the rest of the command line."""
        writes = " && ".join(f"echo 0 > {shlex.quote(str(d / 'cgroup.procs'))}" for d in self.dirs.values())
        return ["sh", "-c", f'{writes} && exec "$@"', "sh"]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return sorted(found)

    def oom_kills(self) -> int:
        """How many processes the kernel killed for going over the memory limit."""
        memory = self.dirs.get("memory") or self.dirs.get("unified")
        name = "memory.events" if self.version == "v2" else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (memory / name).read_text().splitlines():  # type: ignore[operator]
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def kill(self, timeout: float = 5.0) -> None:
        """Kill every process in the group (no fork can escape) and wait until it is empty."""
        deadline = time.monotonic() + timeout
        if self.version == "v2":
            d = self.dirs["unified"]
            if (d / "cgroup.kill").exists():
                _write(d / "cgroup.kill", "1")
            else:
                self._freeze_kill(d / "cgroup.freeze", "1", "0")
        else:
            self._freeze_kill(self.dirs["freezer"] / "freezer.state", "FROZEN", "THAWED")
        while self.pids() and time.monotonic() < deadline:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def _freeze_kill(self, state: Path, frozen: str, thawed: str) -> None:
        if not self.pids():
            return
        _write(state, frozen)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and self.version == "v1" and state.read_text().strip() != "FROZEN":
            time.sleep(0.002)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _write(state, thawed)  # the killed processes die as they thaw

    def remove(self) -> None:
        """Kill what is left, then remove the directories (always, also after a failure)."""
        self.kill()
        for d in self.dirs.values():
            _rmdir(d)


def create(name: str, memory: int, pids: int, cpus: float) -> Cgroup:
    """A fresh cgroup socklab-<name> with these limits; raises NoCgroup when none can be made."""
    if (ROOT / "cgroup.controllers").exists():
        group = _create_v2(name)
    else:
        group = _create_v1(name)
    try:
        set_limits(group, memory, pids, cpus)
    except OSError as err:
        group.remove()
        raise NoCgroup(f"cannot set cgroup limits ({err.strerror})") from None
    return group


def _create_v2(name: str) -> Cgroup:
    available = (ROOT / "cgroup.controllers").read_text().split()
    missing = [c for c in ("memory", "pids") if c not in available]
    if missing:
        raise NoCgroup(f"cgroup v2 without the {', '.join(missing)} controller")
    wanted = [c for c in V2_CONTROLLERS if c in available]
    enabled = (ROOT / "cgroup.subtree_control").read_text().split()
    if any(c not in enabled for c in wanted):
        with contextlib.suppress(OSError):
            _write(ROOT / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
    d = ROOT / f"{PREFIX}{name}"
    _mkdir(d)
    return Cgroup(name=name, version="v2", dirs={"unified": d})


def _create_v1(name: str) -> Cgroup:
    mine = _own_v1_paths()
    dirs: dict[str, Path] = {}
    for controller in V1_CONTROLLERS:
        mount = ROOT / controller
        if not (mount / "cgroup.procs").exists():
            if controller in V1_REQUIRED:
                raise NoCgroup(f"no cgroup v1 {controller} hierarchy at {mount}")
            continue
        parent = mount / mine.get(controller, "").lstrip("/")
        dirs[controller] = (parent if parent.is_dir() else mount) / f"{PREFIX}{name}"
    made: list[Path] = []
    try:
        for d in dirs.values():
            _mkdir(d)
            made.append(d)
    except NoCgroup:
        for d in made:
            _rmdir(d)
        raise
    return Cgroup(name=name, version="v1", dirs=dirs)


def _own_v1_paths(pid: int | str = "self") -> dict[str, str]:
    """A process's cgroup per v1 controller ("" for v2). Ours nest there, inside whatever limits us."""
    paths = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            paths[c] = path
    return paths


def of_process(pid: int) -> Cgroup:
    """The cgroup a process is in (a container's, say): limited here, never removed by socklab."""
    paths = _own_v1_paths(pid)
    if (ROOT / "cgroup.controllers").exists():
        d = ROOT / paths.get("", "/").lstrip("/")
        if not d.is_dir():
            raise NoCgroup(f"cgroup of process {pid} not found under {ROOT}")
        return Cgroup(name=d.name, version="v2", dirs={"unified": d})
    dirs = {}
    for controller in ("memory", "pids", "cpu"):
        d = ROOT / controller / paths.get(controller, "/").lstrip("/")
        if d.is_dir():
            dirs[controller] = d
    if "memory" not in dirs or "pids" not in dirs:
        raise NoCgroup(f"cgroup v1 memory/pids of process {pid} not found under {ROOT}")
    return Cgroup(name=dirs["memory"].name, version="v1", dirs=dirs)


def set_limits(group: Cgroup, memory: int, pids: int, cpus: float) -> None:
    """Resident memory (no swap), processes, and CPU bandwidth (in cores)."""
    quota = max(1000, int(cpus * CPU_PERIOD))
    if group.version == "v2":
        d = group.dirs["unified"]
        _write(d / "memory.max", str(memory))
        if (d / "memory.swap.max").exists():
            _write(d / "memory.swap.max", "0")
        _write(d / "pids.max", str(pids))
        if (d / "cpu.max").exists():
            _write(d / "cpu.max", f"{quota} {CPU_PERIOD}")
        return
    mem = group.dirs["memory"]
    memsw = mem / "memory.memsw.limit_in_bytes"
    if memsw.exists() and int(memsw.read_text()) < memory:
        _write(memsw, str(memory))  # memsw may never be below the memory limit: raise it first
    _write(mem / "memory.limit_in_bytes", str(memory))
    if memsw.exists():
        _write(memsw, str(memory))
    _write(group.dirs["pids"] / "pids.max", str(pids))
    if "cpu" in group.dirs:
        _write(group.dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD))
        _write(group.dirs["cpu"] / "cpu.cfs_quota_us", str(quota))


def leftovers(max_depth: int = 4) -> list[Path]:
    """Every socklab cgroup directory on this host (for gc and the tests' leak check)."""
    found = []
    for dirpath, dirnames, _ in os.walk(ROOT):
        depth = len(Path(dirpath).relative_to(ROOT).parts)
        keep = []
        for d in dirnames:
            if d.startswith(PREFIX):
                found.append(Path(dirpath) / d)
            elif depth < max_depth:
                keep.append(d)
        dirnames[:] = keep
    return sorted(found)


def remove_dir(d: Path) -> None:
    """Kill the members of a leftover cgroup directory and remove it."""
    version = "v2" if (d / "cgroup.events").exists() else "v1"
    controller = "unified" if version == "v2" else d.relative_to(ROOT).parts[0]
    group = Cgroup(name=d.name[len(PREFIX):], version=version, dirs={controller: d})
    if version == "v1" and controller != "freezer":
        for pid in group.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _rmdir(d)
    else:
        group.remove()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _mkdir(d: Path) -> None:
    try:
        d.mkdir()
    except FileExistsError:
        remove_dir(d)  # a leftover of a killed grader with the same name
        d.mkdir()
    except OSError as err:
        raise NoCgroup(f"cannot create {d} ({err.strerror})") from None


def _rmdir(d: Path, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                return
            time.sleep(0.005)
