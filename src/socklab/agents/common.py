"""What every agent shares at run time: its error type, a deadline, address lookup, socket calls.

Expected failures (refused, timed out, no such interface) become an `AgentError`,
which cli.py turns into one `error` event and exit code 1. Nothing here may import
anything outside the standard library.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class AgentError(Exception):
    """An expected failure: reported as an `error` event, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields = fields


class AgentUsageError(AgentError):
    """Arguments that argparse could not check alone (a bad scapy expression): exit 2."""

    exit_code = 2


class Deadline:
    """One time budget for a whole run, so `--count 5 --timeout 3` ends within 3 seconds."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self, what: str) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise self.expired(what)
        return left

    def expired(self, what: str) -> AgentError:
        return AgentError(f"timed out after {self.seconds:g}s waiting for {what}", timeout=self.seconds)

    @contextmanager
    def waiting(self, sock: socket.socket, what: str) -> Iterator[None]:
        """Bound the blocking socket calls inside by what is left of the budget."""
        sock.settimeout(self.remaining(what))
        try:
            yield
        except TimeoutError:
            raise self.expired(what) from None


def describe_oserror(exc: OSError) -> str:
    """A one-line explanation of an OSError, naming the errno so students can look it up."""
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {text}"
    if exc.errno in (errno.EPERM, errno.EACCES):
        text += " (raw and packet sockets need root or CAP_NET_RAW)"
    return f"{text} ({name})" if name else text


def text_bytes(args: argparse.Namespace, name: str) -> bytes:
    value = getattr(args, name)
    return b"" if value is None else value.encode("utf-8")


# --- addresses --------------------------------------------------------------------


def resolve(
    host: str, port: int, socktype: int, family: int = socket.AF_UNSPEC, passive: bool = False
) -> list[tuple[int, Any]]:
    """(family, sockaddr) candidates for host, IPv4 or IPv6 as the address or name says."""
    flags = socket.AI_PASSIVE if passive else 0
    try:
        infos = socket.getaddrinfo(host, port, family, socktype, 0, flags)
    except socket.gaierror as exc:
        raise AgentError(f"cannot resolve {host!r}: {exc.strerror}") from None
    seen: list[tuple[int, Any]] = []
    for fam, _type, _proto, _name, sockaddr in infos:
        if fam in (socket.AF_INET, socket.AF_INET6) and (fam, sockaddr) not in seen:
            seen.append((fam, sockaddr))
    if not seen:
        raise AgentError(f"cannot resolve {host!r} to an IP address")
    return seen


def family_name(family: int) -> str:
    return {socket.AF_INET: "inet", socket.AF_INET6: "inet6", socket.AF_UNIX: "unix"}.get(
        family, str(family)
    )


def bind(sock: socket.socket, address: Any, shown: str) -> None:
    """bind() with the address in the error, since 'Address already in use' alone is a riddle."""
    try:
        sock.bind(address)
    except OSError as exc:
        raise AgentError(f"cannot bind {shown}: {describe_oserror(exc)}") from None


def open_socket(family: int, socktype: int, proto: int = 0) -> socket.socket:
    try:
        return socket.socket(family, socktype, proto)
    except OSError as exc:
        raise AgentError(f"cannot open socket: {describe_oserror(exc)}") from None


def recv_datagram(sock: socket.socket, size: int, ancillary: int = 0) -> tuple[bytes, Any, bool, list]:
    """recvmsg() so a datagram larger than --recv-size is reported as truncated, not hidden."""
    data, ancdata, flags, peer = sock.recvmsg(size, ancillary)
    return data, peer, bool(flags & socket.MSG_TRUNC), ancdata


def read_sysfs(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def iface_exists(name: str) -> bool:
    return os.path.isdir(f"/sys/class/net/{name}")
