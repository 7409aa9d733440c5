"""Network namespaces without forking: create, enter and remove them from the calling thread.

A network namespace is per thread, so `entered()` moves only the current thread and
always moves it back. This is what lets one process configure a thousand namespaces
quickly (pyroute2's netns helpers fork a child for each).
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
MS_REC, MS_BIND, MS_SHARED = 0x4000, 0x1000, 1 << 20
MNT_DETACH = 2
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
libc = _libc  # shared with socklab.sysctl (mount, umount2, unshare, setns)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def prepare_netns_dir() -> None:
    """Make /run/netns a shared mount point, as `ip netns add` does, so mounts propagate."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    if _libc.mount(b"", NETNS_DIR.encode(), b"none", MS_SHARED | MS_REC, None) == 0:
        return
    _check(_libc.mount(NETNS_DIR.encode(), NETNS_DIR.encode(), b"none", MS_BIND | MS_REC, None), "bind /run/netns")
    _check(_libc.mount(b"", NETNS_DIR.encode(), b"none", MS_SHARED | MS_REC, None), "share /run/netns")


def setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns")


def create_netns(name: str, mount_points: MountPoints | None = None) -> int:
    """Create a named namespace (like `ip netns add`) and return an open fd to it.

    The calling thread enters the new namespace for a moment and comes back. With
    `mount_points`, the empty file it is mounted on comes from there (made ahead).
    """
    path = netns_path(name)
    if mount_points is not None:
        mount_points.take(name)
    else:
        _create_mount_point(path)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare")
        try:
            _check(_libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None), f"bind {path}")
            return os.open(path, os.O_RDONLY)
        finally:
            setns(home)
    except BaseException:
        _remove_file(path)
        raise
    finally:
        os.close(home)


def _create_mount_point(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    os.close(fd)


class MountPoints:
    """Creates, in a second thread, the empty files namespaces get bind-mounted on.

    Creating a file can cost more than creating the namespace (about 1 ms per file on
    some filesystems under /run); made ahead, it overlaps with create_netns' work.
    Same order, same O_EXCL checks: take(name) raises what creating that file raised.
    Files made but not taken are left for the caller's rollback, like a crash between
    the two steps of create_netns would leave them (the names are claimed beforehand).
    """

    def __init__(self, names: list[str]):
        self._names = names
        self._done: dict[str, OSError | None] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="socklab-mount-points", daemon=True)

    def __enter__(self) -> MountPoints:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()

    def _run(self) -> None:
        for name in self._names:
            if self._stop:
                break
            error: OSError | None = None
            try:
                _create_mount_point(netns_path(name))
            except OSError as err:
                error = err
            with self._cond:
                self._done[name] = error
                self._cond.notify_all()
            if error is not None:
                break
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def take(self, name: str) -> None:
        with self._cond:
            while name not in self._done and not self._stop:
                self._cond.wait()
            made = name in self._done
            error = self._done.pop(name, None)
        if not made:  # the thread stopped before this name: make it here
            _create_mount_point(netns_path(name))
        elif error is not None:
            raise error


def open_netns(name_or_path: str) -> int:
    path = name_or_path if name_or_path.startswith("/") else netns_path(name_or_path)
    return os.open(path, os.O_RDONLY)


def remove_netns(name: str) -> bool:
    """Unmount and delete a named namespace. True if it existed. The kernel frees it later."""
    path = netns_path(name)
    if not os.path.exists(path):
        return False
    _libc.umount2(path.encode(), MNT_DETACH)
    _remove_file(path)
    return True


def hold_all(paths: list[str]) -> list[int]:
    """Open fds to these namespaces (as many as the fd limit allows), for release_all() later."""
    raise_fd_limit()
    held = []
    for path in paths:
        try:
            held.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:  # gone meanwhile, or out of fds: that one dies on its own
            continue
    return held


def release_all(fds: list[int]) -> None:
    """Close them back to back: namespaces with no other reference all die now, together."""
    for fd in fds:
        os.close(fd)


def _remove_file(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno != errno.EBUSY:
            raise
        _libc.umount2(path.encode(), MNT_DETACH)
        os.unlink(path)


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


@contextmanager
def entered(fd: int) -> Iterator[None]:
    """Run the body with this thread in the namespace `fd`; always come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(fd)
        try:
            yield
        finally:
            setns(home)
    finally:
        os.close(home)


def netns_inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def pids_in_netns(paths: list[str]) -> dict[int, str]:
    """Processes whose network namespace is one of these (pid -> path). Finds strays by membership."""
    wanted = {ino: p for p in paths if (ino := netns_inode(p))}
    found: dict[int, str] = {}
    if not wanted:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        ino = netns_inode(f"/proc/{entry}/ns/net")
        if ino in wanted:
            found[int(entry)] = wanted[ino]
    return found


def raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
