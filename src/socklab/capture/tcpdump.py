"""tcpdump inside a node's namespace: the human-readable live view, and the engine captures had before.

Kept as an engine (SOCKLAB_CAPTURE_ENGINE=tcpdump) so benches compare it side by side
with the in-process ring and tests check that both write the same packets.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from socklab.errors import InfrastructureError

BUFFER_KIB = 65536
"""tcpdump's kernel buffer (-B): 64 MiB, what captures used before the ring engine."""


def tcpdump_argv(netns_path: str, iface: str, write: str, bpf: str | None = None, stream: bool = False,
                 count: int | None = None, buffer_kib: int = BUFFER_KIB) -> list[str]:
    """tcpdump in a node's namespace. `stream` flushes each packet (live viewing); files are
    written in large blocks instead (a write per packet loses packets at high rates) and
    flushed when tcpdump stops on SIGINT. tcpdump runs at nice -10: when the programs under
    test keep both cores busy, the capture must not be the one that waits."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise InfrastructureError("tcpdump is not installed (apt-get install tcpdump, or run `make setup`)")
    argv = ["nice", "-n", "-10", "nsenter", f"--net={netns_path}", tcpdump, "-i", iface, "-s", "0", "--immediate-mode",
            "-B", str(buffer_kib), "-Z", "root", "-w", write, *(["-U"] if stream else []),
            *(["-c", str(count)] if count else [])]
    if bpf:
        argv.append(bpf)
    return argv


class TcpdumpProcess:
    """One running tcpdump writing `path`; `stop()` flushes it by SIGINT and returns the kernel's drop count."""

    def __init__(self, netns_path: str, iface: str, path: Path, bpf: str | None, buffer_bytes: int | None):
        self.log = path.parent / f".{path.stem}.log"
        kib = max(1, buffer_bytes // 1024) if buffer_bytes else BUFFER_KIB
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(tcpdump_argv(netns_path, iface, str(path), bpf, buffer_kib=kib),
                                         stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)

    def wait_listening(self, deadline: float, point: str) -> bool:
        text = self.log.read_text(errors="replace")
        if "listening on" in text:
            return True
        if self.proc.poll() is not None:
            raise InfrastructureError(f"tcpdump on {point} failed: {text.strip().splitlines()[-1:] or '?'}")
        if time.monotonic() > deadline:
            raise InfrastructureError(f"tcpdump on {point} did not start in time")
        return False

    def interrupt(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 5.0) -> int | None:
        self.interrupt()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        match = re.search(r"(\d+) packets? dropped by kernel", self.log.read_text(errors="replace"))
        return int(match.group(1)) if match else None


def live_argv(deployment, point: str, write: str | None = None, bpf: str | None = None,
              count: int | None = None) -> list[str]:
    """tcpdump on NODE[:IFACE] of a running lab (default: the node's first interface): pcap to
    `write` ("-" for stdout), or one text line per packet without it."""
    from socklab.capture import resolve_point

    ref = resolve_point(deployment, point, bpf)
    argv = tcpdump_argv(deployment.netns_path(ref.node), ref.iface, write or "-", None, stream=True, count=count)
    if write is None:  # human lines instead of pcap
        argv = [a for a in argv if a not in ("-w", "-", "-U")] + ["-n", "-l"]
    return argv + ([bpf] if bpf else [])
