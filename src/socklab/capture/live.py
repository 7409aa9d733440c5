"""`socklab capture`: one live stream of several wires — pcap for one point, pcapng for more.

The pcapng has one Interface Description Block per "node:iface" (if_name), so Wireshark's
interface column tells the wires apart. Each point has its own ring and reader thread;
their blocks are written as they are retired (within RETIRE_MS), under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import BinaryIO, TextIO

from socklab.bpf import compile_filter
from socklab.capture import (
    Where,
    check_ring_budget,
    default_ring_bytes,
    sharing_defaults,
    side_by_side,
)
from socklab.capture.files import Packet, PcapNgWriter, pcap_header, pcap_records
from socklab.capture.ring import RingReader
from socklab.errors import InfrastructureError
from socklab.model.lab import CapturePoint


def stream(points: list[Where], out: BinaryIO, count: int | None = None, pcapng: bool | None = None,
           on_ready: Callable[[], None] | None = None) -> int:
    """Capture the points into `out` until `count` packets (or Ctrl-C, or the reader of `out`
    goes away). pcapng when several points (or `pcapng=True`). `on_ready` is called once every
    point is capturing. Returns the packets written."""
    pcapng = len(points) > 1 if pcapng is None else pcapng
    lock = threading.Lock()
    done = threading.Event()
    written = 0
    writer = PcapNgWriter(out) if pcapng else None
    if writer is None:
        out.write(pcap_header())
    out.flush()

    def sink_for(ident: int):
        def sink(packets: list[Packet]) -> None:
            nonlocal written
            with lock:
                if done.is_set():
                    return
                if count is not None:
                    packets = packets[: count - written]
                if writer is not None:
                    writer.packets(ident, packets)
                else:
                    out.write(pcap_records(packets))
                out.flush()
                written += len(packets)
                if count is not None and written >= count:
                    done.set()
        return sink

    check_ring_budget(p for p, _ in points)
    idents = [writer.interface(str(p)) if writer is not None else 0 for p, _ in points]  # all IDBs before any packet
    sharing = sharing_defaults(points)

    def start(point: CapturePoint, netns: str, ident: int) -> RingReader:
        program = compile_filter(point.filter) if point.filter else None
        return RingReader(netns, point.iface, default_ring_bytes(point.buffer, sharing), program).start(sink_for(ident))

    readers: list[RingReader] = side_by_side(
        [lambda p=p, n=n, i=i: start(p, n, i) for (p, n), i in zip(points, idents, strict=True)], RingReader.stop)
    try:
        if on_ready is not None:
            on_ready()
        while not done.wait(0.2):
            failed = next((r.error for r in readers if r.error is not None), None)
            if isinstance(failed, BrokenPipeError):
                return written
            if failed is not None:
                raise InfrastructureError(f"live capture failed: {failed}")
    finally:
        for reader in readers:
            reader.freeze()
        for reader in readers:
            try:
                reader.stop()
            except BrokenPipeError:
                pass
    return written


def live_points(deployment, texts: list[str], bpf: str | None = None) -> list[Where]:
    """The points a user named (NODE or NODE:IFACE), or else the lab's capture points (its own
    filters unless `bpf` is given), or else every host and router interface."""
    from socklab.capture import resolve_point
    from socklab.model.lab import CapturePoint

    if texts:
        points = [resolve_point(deployment, text, bpf) for text in texts]
    else:
        points = _lab_points(deployment) or [CapturePoint(n.name, i.name) for n in deployment.plan.nodes
                                             if n.kind != "switch" for i in n.interfaces]
        if bpf is not None:
            points = [CapturePoint(p.node, p.iface, bpf, p.buffer) for p in points]
    if not points:
        from socklab.errors import UsageError

        raise UsageError(f"{deployment.instance} has no interface to capture on")
    return [(p, deployment.netns_path(p.node)) for p in dict.fromkeys(points)]


def _lab_points(deployment) -> list:
    source = deployment.record.lab_file
    if not source:
        return []
    try:
        from socklab.model.loader import load_lab

        return list(load_lab(source).captures)
    except Exception:  # noqa: BLE001 - the lab file changed or went away: fall back to the plan
        return []


def text_lines(points: list[Where], out: TextIO, count: int | None = None) -> None:
    """tcpdump's one-line summaries of several wires, each line prefixed by its "node:iface"."""
    import subprocess

    from socklab.capture.tcpdump import tcpdump_argv

    lock, done, printed = threading.Lock(), threading.Event(), [0]
    procs = []
    for point, netns in points:
        argv = [a for a in tcpdump_argv(netns, point.iface, "-", None, stream=True) if a not in ("-w", "-", "-U")]
        procs.append((str(point), subprocess.Popen(argv + ["-n", "-l", "-q"] + ([point.filter] if point.filter else []),
                                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)))
    width = max(len(name) for name, _ in procs)

    def pump(name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with lock:
                if done.is_set():
                    return
                out.write(f"{name:<{width}}  {line}")
                out.flush()
                printed[0] += 1
                if count is not None and printed[0] >= count:
                    done.set()

    threads = [threading.Thread(target=pump, args=p, daemon=True) for p in procs]
    for thread in threads:
        thread.start()
    try:
        while not done.wait(0.2) and any(t.is_alive() for t in threads):
            pass
    finally:
        for _, proc in procs:
            proc.terminate()
        for _, proc in procs:
            proc.wait()
