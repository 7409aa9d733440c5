"""Captures with tcpdump inside a node's network namespace.

tcpdump, not scapy: at the rates a veth carries, scapy's sniff() loses most packets.
Each capture is confirmed listening before the scenario starts and flushed by SIGINT.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from socklab.errors import InfrastructureError, UsageError
from socklab.model.lab import CapturePoint
from socklab.runfolder import RunFolder

if TYPE_CHECKING:
    from socklab.deployment import Deployment

BUFFER_KIB = 65536
"""Kernel ring per capture (64 MiB: ~32k full-size frames, ~250 ms at 130 kpps while tcpdump waits for a core)."""


def tcpdump_argv(netns_path: str, iface: str, write: str, bpf: str | None = None, stream: bool = False,
                 count: int | None = None, buffer: int | None = None) -> list[str]:
    """tcpdump in a node's namespace. `stream` flushes each packet (live viewing); files are
    written in large blocks instead (a write per packet loses packets at high rates) and
    flushed when tcpdump stops on SIGINT. tcpdump runs at nice -10: when the programs under
    test keep both cores busy, the capture must not be the one that waits."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise InfrastructureError("tcpdump is not installed (apt-get install tcpdump, or run `make setup`)")
    argv = ["nice", "-n", "-10", "nsenter", f"--net={netns_path}", tcpdump, "-i", iface, "-s", "0", "--immediate-mode",
            "-B", str(max(1, buffer >> 10) if buffer else BUFFER_KIB), "-Z", "root", "-w", write, *(["-U"] if stream else []),
            *(["-c", str(count)] if count else [])]
    if bpf:
        argv.append(bpf)
    return argv


@dataclass
class Capture:
    """One running tcpdump. `stop()` flushes it and returns the kernel's drop count."""

    point: str  # "node:iface"
    path: Path
    proc: subprocess.Popen
    log: Path
    dropped: int | None = None

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        match = re.search(r"(\d+) packets? dropped by kernel", self.log.read_text(errors="replace"))
        self.dropped = int(match.group(1)) if match else None


def start_captures(points: list[tuple[CapturePoint, str]], folder: RunFolder, timeout: float = 5.0) -> list[Capture]:
    """Start tcpdump for each (point, netns_path) into the run folder; return once all are listening."""
    folder.pcap_dir.mkdir(parents=True, exist_ok=True)
    captures: list[Capture] = []
    try:
        for point, netns_path in points:
            path, log = folder.pcap(point), folder.capture_log(point)
            with open(log, "wb") as err:
                proc = subprocess.Popen(tcpdump_argv(netns_path, point.iface, str(path), point.filter, buffer=point.buffer),
                                        stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            captures.append(Capture(point=str(point), path=path, proc=proc, log=log))
        deadline = time.monotonic() + timeout
        waiting = list(captures)
        while waiting:
            for cap in list(waiting):
                text = cap.log.read_text(errors="replace")
                if "listening on" in text:
                    waiting.remove(cap)
                elif cap.proc.poll() is not None:
                    raise InfrastructureError(f"tcpdump on {cap.point} failed: {text.strip().splitlines()[-1:] or '?'}")
            if waiting and time.monotonic() > deadline:
                raise InfrastructureError(f"tcpdump on {waiting[0].point} did not start within {timeout:.0f}s")
            if waiting:
                time.sleep(0.003)
    except BaseException:
        stop_captures(captures)
        raise
    return captures


def stop_captures(captures: list[Capture]) -> None:
    for cap in captures:
        if cap.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                cap.proc.send_signal(signal.SIGINT)
    for cap in captures:
        cap.stop()


def live_argv(deployment: Deployment, point: str, write: str | None = None, bpf: str | None = None,
              count: int | None = None) -> list[str]:
    """tcpdump on NODE[:IFACE] of a running lab (default: the node's first interface): pcap to
    `write` ("-" for stdout), or one text line per packet without it."""
    node, _, iface = point.partition(":")  # the one place a user's NODE[:IFACE] is read
    try:
        names = [i.name for i in deployment.plan.node(node).interfaces]
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    ref = CapturePoint(node, iface or (names[0] if names else ""), bpf)
    if ref.iface not in names:
        raise UsageError(f"{node} has no interface {ref.iface!r} (it has: {', '.join(names) or 'none'})")
    argv = tcpdump_argv(deployment.netns_path(node), ref.iface, write or "-", None, stream=True, count=count)
    if write is None:  # human lines instead of pcap
        argv = [a for a in argv if a not in ("-w", "-", "-U")] + ["-n", "-l"]
    return argv + ([bpf] if bpf else [])
