"""Captures: every packet crossing a capture point, into a pcap per point, with an exact loss count.

Read in-process from a TPACKET_V3 ring (capture/ring.py: ready when start_captures
returns, flushed completely by stop_captures, no process per capture point, one wakeup
per block rather than per packet). The files are what tcpdump -s 0 writes for the same
traffic, record for record. tcpdump remains available as an engine for comparison
(SOCKLAB_CAPTURE_ENGINE=tcpdump) and for human-readable live views.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from socklab.capture.tcpdump import BUFFER_KIB, TcpdumpProcess, live_argv, tcpdump_argv
from socklab.errors import InfrastructureError, UsageError
from socklab.model.lab import CapturePoint

if TYPE_CHECKING:
    from socklab.runfolder import RunFolder

__all__ = ["BUFFER_KIB", "Capture", "PreparedRings", "check_ring_budget", "default_ring_bytes", "live_argv",
           "start_captures", "stop_captures", "tcpdump_argv"]

Where = tuple[CapturePoint, str]
"""A capture point and the path of its node's network namespace."""

ENGINE_ENV = "SOCKLAB_CAPTURE_ENGINE"
DEFAULT_RING = 4 << 20
"""Kernel ring per capture point unless the lab says `buffer:`. The ring only has to hold what
arrives while the reader thread waits for a core: at this machine's saturating rate of
small frames (~190k packets/s, 144 ring bytes each) 4 MiB is about 150 ms, and at full-size
frames a gigabit for 30 ms. Today's tcpdump engine used 64 MiB per point."""
MAX_RING = 64 << 20
SESSION_RING_BUDGET = 256 << 20
"""Kernel memory for the default-sized rings of one capture session (a run, a `socklab capture`):
a cap. Up to 64 points get DEFAULT_RING each; more share the budget (a lab capturing every
interface of 1000 nodes would otherwise pin 8 GiB), down to MIN_DEFAULT_RING each; a session
that would need more is refused before anything is built (check_ring_budget). Points with
`buffer:` get exactly that, uncounted: the lab asked for it."""
MIN_DEFAULT_RING = 256 << 10
"""The least a default ring shrinks to: 2 blocks of 128 KiB, each holding a 64 KiB GSO frame whole."""
MAX_DEFAULT_POINTS = SESSION_RING_BUDGET // MIN_DEFAULT_RING  # 1024


def default_ring_bytes(buffer: int | None = None, sharing: int = 1) -> int:
    """The ring for one point: the lab's `buffer:` exactly, else DEFAULT_RING, or less when
    `sharing` default-sized points of one session would exceed SESSION_RING_BUDGET together."""
    if buffer is not None:
        return max(4096, buffer)
    return max(MIN_DEFAULT_RING, min(DEFAULT_RING, SESSION_RING_BUDGET // max(1, sharing)))


def sharing_defaults(points: Iterable[Where]) -> int:
    """How many of a session's points take the default ring size (no `buffer:`)."""
    return sum(1 for point, _ in points if point.buffer is None)


def engine_of(engine: str | None = None) -> str:
    """The capture engine: the one asked for, else $SOCKLAB_CAPTURE_ENGINE, else the ring."""
    return engine or os.environ.get(ENGINE_ENV) or "ring"


def check_ring_budget(points: Iterable[CapturePoint], engine: str | None = None) -> None:
    """Refuse a session whose default-sized rings cannot fit SESSION_RING_BUDGET even at their
    least (more than MAX_DEFAULT_POINTS points): kernel memory no run may pin silently."""
    if engine_of(engine) == "tcpdump":
        return
    count = sum(1 for point in points if point.buffer is None)
    if count > MAX_DEFAULT_POINTS:
        raise UsageError(
            f"{count} capture points: at {MIN_DEFAULT_RING >> 10} KiB of kernel ring each they need "
            f"{count * MIN_DEFAULT_RING >> 20} MiB, over the {SESSION_RING_BUDGET >> 20} MiB a session's rings may "
            f"take ({MAX_DEFAULT_POINTS} points); a lab's default `capture: all` takes every host and router "
            "interface: list the points to capture, give them a `buffer:` each, or write `capture: none`")


@dataclass
class Capture:
    """One running capture. After stop(): `dropped` is the exact number of packets the kernel
    could not hand over (0 when none were lost), `packets` the number written to `path`."""

    point: str  # "node:iface"
    path: Path
    dropped: int | None = None
    packets: int | None = None
    _engine: object = field(default=None, repr=False)
    _file: object = field(default=None, repr=False)

    def stop(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        if isinstance(engine, TcpdumpProcess):
            self.dropped = engine.stop()
            return
        try:
            engine.stop()
        finally:
            self._file.close()
        self.dropped, self.packets = engine.dropped, engine.packets
        if engine.error is not None:
            raise InfrastructureError(f"capture on {self.point} failed: {engine.error}")


def start_captures(points: Iterable[Where], folder: RunFolder | Path, timeout: float = 5.0,
                   engine: str | None = None, prepared: PreparedRings | None = None) -> list[Capture]:
    """Start a capture for each (point, netns_path); return once every one is capturing.

    Files go where the run folder says (`<node>-<iface>.pcap` in its pcap folder; a plain
    Path is that folder itself). `engine` "tcpdump" uses the previous engine (benches, tests).
    Rings in `prepared` are used (waiting for them if they are still being prepared); a
    point without one is prepared here, on the caller's path. What is not used stays in
    `prepared` for its owner to close.
    """
    pcap_dir = folder if isinstance(folder, Path) else folder.pcap_dir
    pcap_dir.mkdir(parents=True, exist_ok=True)
    engine = engine_of(engine)
    captures: list[Capture] = []
    try:
        specs = [(point, netns, pcap_dir / f"{point.stem}.pcap") for point, netns in points]
        if engine == "tcpdump":
            _start_tcpdump(specs, timeout, captures)
        else:
            _start_rings(specs, captures, prepared)
    except BaseException:
        stop_captures(captures)
        raise
    return captures


Spec = tuple[CapturePoint, str, Path]
Key = tuple[str, str | None, int | None, str]


def _key(point: CapturePoint, netns: str) -> Key:
    return str(point), point.filter, point.buffer, netns  # CapturePoint's == ignores filter and buffer


class PreparedRings:
    """Rings for capture points, set up in the background before anyone asks for them.

    Setting up a ring is the slow part of starting a capture (PACKET_RX_RING waits for an
    RCU grace period, ~8 ms here), and a ring can be set up long before its capture starts
    (capture.ring: it receives nothing until bound). `socklab run` creates this right after
    the lab is up, so the wait overlaps preparing the workspace; start_captures then only
    binds. Always `close()` it (or use it as a context manager): rings nobody took are
    released, now or as soon as their preparation ends. A preparation that failed leaves no
    ring: start_captures prepares that point again on the spot and reports its error.
    """

    def __init__(self, points: Iterable[Where], engine: str | None = None):
        self._ready: dict[Key, object] = {}
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        points = list(points)
        if engine_of(engine) == "tcpdump" or not points:
            self._done.set()
            return
        threading.Thread(target=self._prepare, args=(points,), name="socklab-capture-prepare", daemon=True).start()

    def _prepare(self, points: list[Where]) -> None:
        from socklab.capture.ring import RingReader

        try:
            sharing = sharing_defaults(points)
            readers = side_by_side([lambda where=where: _prepare_ring(*where, sharing) for where in points],
                                   RingReader.close)
        except BaseException:  # noqa: BLE001 - start_captures prepares again and reports the error
            readers = []
        with self._lock:
            if self._closed:
                for reader in readers:
                    reader.close()
            else:
                self._ready = {_key(*where): reader for where, reader in zip(points, readers, strict=False)}
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the preparation is over (within `timeout` seconds)."""
        return self._done.wait(timeout)

    def take(self, point: CapturePoint, netns: str):
        """The prepared RingReader for this point (waiting for the preparation), or None."""
        self._done.wait()
        with self._lock:
            return self._ready.pop(_key(point, netns), None)

    def close(self) -> None:
        """Release every ring nobody took; one still being prepared is released when ready."""
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, {}
        for reader in ready.values():
            reader.close()

    def __enter__(self) -> PreparedRings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prepare_ring(point: CapturePoint, netns: str, sharing: int = 1):
    from socklab.bpf import compile_filter
    from socklab.capture.ring import RingReader

    program = compile_filter(point.filter) if point.filter else None
    return RingReader(netns, point.iface, default_ring_bytes(point.buffer, sharing), program)


def _start_rings(specs: list[Spec], captures: list[Capture], prepared: PreparedRings | None) -> None:
    from socklab.capture.ring import RingReader

    readers = {}
    try:
        if prepared is not None:
            for point, netns, _ in specs:
                reader = prepared.take(point, netns)
                if reader is not None:
                    readers[_key(point, netns)] = reader
        missing = [(point, netns) for point, netns, _ in specs if _key(point, netns) not in readers]
        sharing = sharing_defaults((point, netns) for point, netns, _ in specs)
        made = side_by_side([lambda where=where: _prepare_ring(*where, sharing) for where in missing],
                            RingReader.close)
        readers.update({_key(*where): reader for where, reader in zip(missing, made, strict=True)})
        for point, netns, path in specs:
            captures.append(_start_ring(point, path, readers.pop(_key(point, netns))))
    finally:
        for reader in readers.values():  # prepared but not started: something failed
            reader.close()


def side_by_side(starts: list, stop) -> list:
    """Run the start functions at once and return their results in order; if one fails, `stop`
    the others and raise. Rings are set up this way: each waits in the kernel for an RCU grace
    period (the synchronize_net() of PACKET_RX_RING, 8-16 ms here), and waits at once share one."""
    if len(starts) <= 1:
        return [start() for start in starts]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(starts), 16), thread_name_prefix="socklab-capture-start") as pool:
        futures = [pool.submit(start) for start in starts]
    started, errors = [], []
    for future in futures:
        try:
            started.append(future.result())
        except BaseException as err:  # noqa: BLE001 - start all, stop those that started, raise the first
            errors.append(err)
    if errors:
        for thing in started:
            stop(thing)
        raise errors[0]
    return started


def _start_ring(point: CapturePoint, path: Path, reader) -> Capture:
    from socklab.capture.files import pcap_header, pcap_records

    out = open(path, "wb", buffering=0)
    try:
        out.write(pcap_header())
        reader.start(lambda packets: out.write(pcap_records(packets)))
    except BaseException:
        out.close()
        reader.close()
        raise
    return Capture(point=str(point), path=path, _engine=reader, _file=out)


def _start_tcpdump(specs: list[Spec], timeout: float, captures: list[Capture]) -> None:
    for point, netns, path in specs:
        proc = TcpdumpProcess(netns, point.iface, path, point.filter, point.buffer)
        captures.append(Capture(point=str(point), path=path, _engine=proc))
    deadline = time.monotonic() + timeout
    waiting = list(captures)
    while waiting:
        waiting = [c for c in waiting if not c._engine.wait_listening(deadline, c.point)]
        if waiting:
            time.sleep(0.003)


def stop_captures(captures: list[Capture], merged: Path | None = None) -> None:
    """Stop and flush every capture; with `merged`, also write all of them into one pcapng there
    (one interface per point, named "node:iface", packets in time order)."""
    for cap in captures:  # all at once: tcpdump takes ~30 ms to flush, a ring waits for in-flight copies
        if isinstance(cap._engine, TcpdumpProcess):
            cap._engine.interrupt()
        elif cap._engine is not None:
            cap._engine.freeze()
    errors: list[BaseException] = []
    for cap in captures:
        try:
            cap.stop()
        except BaseException as err:  # noqa: BLE001 - stop every capture, then report the first failure
            errors.append(err)
    if errors:
        raise errors[0]
    if merged is not None and len(captures) > 1:
        from socklab.capture.files import merge_to_pcapng

        merge_to_pcapng({c.point: c.path for c in captures}, merged)


def resolve_point(deployment, text: str, bpf: str | None = None) -> CapturePoint:
    """A user's NODE[:IFACE] on a running lab (default: the node's first interface)."""
    from socklab.errors import UsageError

    node, _, iface = text.partition(":")  # the one place a user's NODE[:IFACE] is read
    try:
        names = [i.name for i in deployment.plan.node(node).interfaces]
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    point = CapturePoint(node, iface or (names[0] if names else ""), bpf)
    if point.iface not in names:
        raise UsageError(f"{node} has no interface {point.iface!r} (it has: {', '.join(names) or 'none'})")
    return point
