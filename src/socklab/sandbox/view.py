"""A private view for a program in a lab node (netns backend), built with bubblewrap.

bwrap starts inside the node's network namespace (`ip netns exec` runs it) and does not
unshare the network, so the program keeps its node's interfaces, addresses and routes,
while it gets mount, PID, IPC and UTS namespaces of its own:

- `/usr` and the `/bin`, `/sbin`, `/lib*` links read-only: the system's programs and python3
  (with Debian's python3-scapy), nothing else of the host's filesystem;
- from `/etc` only what programs read (the dynamic loader's cache, name service and
  protocol tables, time zone, Python's own config) and the node's hosts file as `/etc/hosts`;
- the workspace read-write at its host path, as the cwd: the only place files persist;
- private `/tmp`, `/var/tmp` and `/dev/shm` (empty tmpfs), a minimal `/dev` (null, zero,
  full, random, urandom, tty, a private pts), a `/proc` that shows only its own processes;
- socklab's stdlib-only agents read-only under /opt/socklab (PYTHONPATH), without the rest
  of socklab, the labs, their solutions, the venv, run folders or /run/socklab.

When its first process (bwrap's init) dies, the kernel kills everything else in the PID
namespace: a step's whole tree ends with it.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
from pathlib import Path

from socklab.errors import InfrastructureError

AGENTS_ROOT = "/opt/socklab"
SRC_DIR = Path(__file__).resolve().parents[2]
ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "host.conf", "gai.conf",
    "hosts", "protocols", "services", "ethertypes", "networks", "alternatives",
)


def check() -> None:
    if shutil.which("bwrap") is None:
        raise InfrastructureError("bwrap is missing (Debian package bubblewrap); the grading sandbox needs it")


@functools.cache
def _system() -> tuple[str, ...]:
    """The read-only system part, the same for every program (decided once)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    # folders bwrap would create for a bind are root-only (0700): make the ones we need readable
    for folder in ("/etc", "/var", "/opt", AGENTS_ROOT, f"{AGENTS_ROOT}/socklab"):
        args += ["--perms", "0755", "--dir", folder]
    etc = [f"/etc/{name}" for name in ETC] + sorted(glob.glob("/etc/python3*"))
    for path in etc:
        if os.path.lexists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for tmp in ("/tmp", "/var/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--tmpfs", tmp]
    agents = SRC_DIR / "socklab" / "agents"
    if agents.is_dir():
        args += ["--ro-bind", str(SRC_DIR / "socklab" / "__init__.py"), f"{AGENTS_ROOT}/socklab/__init__.py",
                 "--ro-bind", str(agents), f"{AGENTS_ROOT}/socklab/agents"]
    return tuple(args)


def bwrap_argv(workspace: Path, hostname: str, caps: tuple[str, ...] | None = None) -> tuple[list[str], int]:
    """argv prefix that runs the rest of the command line in a private view of `workspace`,
    and the fd (a memfd) to hand to it: bwrap reads its options from there and closes it, so
    the view's first process, which its programs see as /proc/1, shows no host paths.

    caps None keeps root's capabilities for what follows (setpriv drops them with the uid);
    otherwise the program keeps only these (e.g. ("CAP_NET_RAW",)), for lab programs run as root.
    """
    options = _options(workspace, hostname, caps)
    fd = os.memfd_create("socklab-view", os.MFD_CLOEXEC)
    os.write(fd, b"".join(o.encode() + b"\0" for o in options))
    os.lseek(fd, 0, os.SEEK_SET)
    return ["bwrap", "--args", str(fd), "--"], fd


def _options(workspace: Path, hostname: str, caps: tuple[str, ...] | None) -> list[str]:
    ws = str(workspace)
    argv = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
            "--hostname", hostname, *_system(), "--bind", ws, ws, "--chdir", ws]
    if caps is not None:
        argv += ["--cap-drop", "ALL"]
        for cap in caps:
            argv += ["--cap-add", cap]
    return argv


def env() -> dict[str, str]:
    """Environment of a program in the view: the system's python3 and the agents only."""
    return {"PYTHONPATH": AGENTS_ROOT}
