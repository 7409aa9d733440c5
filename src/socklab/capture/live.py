"""`socklab capture`: one live stream of several wires — pcap for one point, pcapng for more.

The pcapng has one Interface Description Block per "node:iface" (if_name), so Wireshark's
interface column tells the wires apart. Each point has its own ring and reader thread;
their blocks are written as they are retired (within RETIRE_MS), under one lock.
"""

from __future__ import annotations

import threading
from typing import BinaryIO

from socklab.capture import Point, default_ring_bytes
from socklab.capture.bpf import compile_filter
from socklab.capture.files import Packet, PcapNgWriter, pcap_header, pcap_records
from socklab.capture.ring import RingReader
from socklab.errors import InfrastructureError


def stream(points: list[Point], out: BinaryIO, count: int | None = None, pcapng: bool | None = None) -> int:
    """Capture the points into `out` until `count` packets (or Ctrl-C, or the reader of `out`
    goes away). pcapng when several points (or `pcapng=True`). Returns the packets written."""
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

    idents = [writer.interface(p.point) if writer is not None else 0 for p in points]  # all IDBs before any packet
    readers: list[RingReader] = []
    try:
        for point, ident in zip(points, idents, strict=True):
            program = compile_filter(point.filter) if point.filter else None
            readers.append(RingReader(point.netns_path, point.iface, sink_for(ident),
                                      default_ring_bytes(point.buffer), program))
        out.flush()
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
