"""Sysctls written inside many network namespaces, in time linear in their number.

Every namespace that has looked at /proc/sys/net leaves its own dentry for "ipv4" and
"ipv6" in one hash chain of the /proc superblock (they share the parent /proc/sys/net),
and each later lookup walks that chain: the 10,000th namespace's sysctl writes cost
about 10,000 comparisons each (issue 15: 1.8 s of a 2000-node up, quadratic). Since
Linux 5.8 each procfs mount is a superblock of its own, with its own dentries. So a
worker thread with a private mount namespace mounts a fresh procfs over /proc every
CHUNK namespaces: the chain never grows past CHUNK. The mount namespace belongs to the
thread alone and ends with it (nothing to clean up, even after SIGKILL); where it cannot
be made, writes go through the shared /proc, correct but slower.
"""

from __future__ import annotations

import os
import queue
import threading

from socklab import nsutil
from socklab.errors import InfrastructureError
from socklab.nsutil import MNT_DETACH, MS_REC
from socklab.nsutil import libc as _libc

CHUNK = 128  # namespaces per fresh procfs: a mount costs about as much as 100 chain steps
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_PRIVATE = 0x2, 0x4, 0x8, 1 << 18

Job = tuple[int, str, list[tuple[str, str]]]  # (netns fd, node name, [(key, value)])


def is_early(key: str) -> bool:
    """Sysctls naming one interface must wait until it exists; the rest apply before."""
    parts = key.split(".")
    if len(parts) >= 4 and parts[2] in ("conf", "neigh"):
        return parts[3] in ("all", "default")
    return True


class SysctlWriter:
    """A thread that writes the sysctls it is given inside the given namespaces, in order.

    submit() queues and returns at once (the caller keeps the fd open until wait());
    wait() returns when everything submitted so far is written and raises the first
    failure as InfrastructureError naming the node and the sysctl.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._error: InfrastructureError | None = None
        self._private = False
        self._thread = threading.Thread(target=self._run, name="socklab-sysctl", daemon=True)
        self._thread.start()

    def submit(self, fd: int, node: str, items: list[tuple[str, str]]) -> None:
        if not items:
            return
        with self._idle:
            self._pending += 1
        self._jobs.put((fd, node, items))

    def wait(self) -> None:
        with self._idle:
            while self._pending:
                self._idle.wait()
            error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Stop the thread (its mount namespace goes with it); raises what wait() would."""
        try:
            self.wait()
        finally:
            self._jobs.put(None)
            self._thread.join()

    def __enter__(self) -> SysctlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        # A mount namespace of this thread's own, private so that nothing mounted in it
        # reaches the host and no host mount (the lab's /run/netns ones) propagates into it.
        self._private = (_libc.unshare(CLONE_NEWNS) == 0
                         and _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0)
        mounted, written = False, 0
        try:
            while (job := self._jobs.get()) is not None:
                fd, node, items = job
                try:
                    if self._private and written % CHUNK == 0:
                        if mounted:
                            _libc.umount2(b"/proc", MNT_DETACH)
                        mounted = _libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) == 0
                    written += 1
                    if self._error is None:
                        with nsutil.entered(fd):
                            _write(node, items)
                except InfrastructureError as err:
                    self._error = err
                except OSError as err:
                    self._error = InfrastructureError(f"node {node}: cannot enter its namespace: {err.strerror}")
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()
        finally:
            if mounted:
                _libc.umount2(b"/proc", MNT_DETACH)


def _write(node: str, items: list[tuple[str, str]]) -> None:
    for key, value in items:
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)  # open(path, "w")
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as err:
            raise InfrastructureError(f"node {node}: cannot set sysctl {key}={value}: {err.strerror}") from None
