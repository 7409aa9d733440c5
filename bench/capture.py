"""Captures before (tcpdump) and after (in-process TPACKET_V3 ring), side by side in one run.

Usage: .venv/bin/python bench/capture.py [--senders 2] [--runs 5] [--seconds 1.5] [--lab-runs 10]
Prints start/stop time for 1 and 2 capture points with tcpdump, with rings prepared on the
spot (start_captures alone) and with rings prepared beforehand (PreparedRings, as `socklab
run` does: the preparing is reported in its own column, off the critical path); then
`run_lab` of tcp-hello with and without prepared rings (its capture_start/capture_stop
timings), and sent/captured/dropped when senders saturate the cores with small UDP
datagrams. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import socklab  # noqa: E402
import socklab.run  # noqa: E402
from socklab.capture import PreparedRings, start_captures, stop_captures  # noqa: E402
from socklab.capture.ring import close_later as _close_later  # noqa: E402
from socklab.model.lab import CapturePoint  # noqa: E402
from socklab.model.loader import load_lab, parse_lab  # noqa: E402
from socklab.verify.pcap import read_records  # noqa: E402

LAB = """
name: blast
nodes:
  server: {ip: 192.168.11.11/24}
  client: {ip: 192.168.11.12/24}
links: [[server, client]]
"""
BLASTER = textwrap.dedent("""
    import socket, sys, time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send, payload, sent, peer = s.sendto, b"x" * 18, 0, ("192.168.11.11", 9)
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:
        for _ in range(1000):
            send(payload, peer)
        sent += 1000
    print(sent)
""")


def start_stop(dep, engine: str, tmp: Path, cycles: int, nodes: tuple[str, ...],
               prepare: bool = False) -> tuple[float, ...]:
    """Median start, stop and (with `prepare`; else nan) preparation, in ms, one datagram in between."""
    points = [(CapturePoint(n, "eth0"), dep.netns_path(n)) for n in nodes]
    starts, stops, prepares = [], [], []
    for n in range(cycles):
        prepared = None
        if prepare:
            t = time.perf_counter()
            prepared = PreparedRings(points)
            prepared.wait()
            prepares.append(time.perf_counter() - t)
        t = time.perf_counter()
        caps = start_captures(points, tmp / f"{engine}-{len(nodes)}-{prepare}-ss{n}", engine=engine,
                              prepared=prepared)
        starts.append(time.perf_counter() - t)
        dep.exec("client", ["true"])
        t = time.perf_counter()
        stop_captures(caps)
        stops.append(time.perf_counter() - t)
        time.sleep(0.05)  # the sockets' releases (two grace periods each) end before the next cycle
    return tuple(statistics.median(v) * 1000 if v else float("nan") for v in (starts, stops, prepares))


CHILD = """
import sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import contextlib
import capture as bench
from socklab.capture import PreparedRings, start_captures, stop_captures
from socklab.model.lab import CapturePoint
points = [(CapturePoint(node, "eth0"), path) for node, path in zip(sys.argv[5::2], sys.argv[6::2])]
if sys.argv[4] == "no capture":
    points = []
with bench._one_closer() if sys.argv[4] == "serial" else contextlib.nullcontext():
    caps = start_captures(points, Path(sys.argv[3]), prepared=PreparedRings(points))
    stop_captures(caps)
    print(time.monotonic(), flush=True)
"""


def exit_wait(dep, tmp: Path, nodes: tuple[str, ...], closer: str, runs: int) -> float:
    """Median ms from stop_captures returning to the process's exit as its parent sees it: an exiting
    process first waits, in the kernel, for the releases (grace periods) its threads have begun."""
    src, here = Path(__file__).resolve().parents[1] / "src", Path(__file__).resolve().parent
    argv = [sys.executable, "-c", CHILD, str(src), str(here), str(tmp / "exit"), closer]
    argv += [x for n in nodes for x in (n, dep.netns_path(n))]
    waits = []
    for _ in range(runs):
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        stopped = float(child.stdout.readline())
        child.wait()
        waits.append(time.monotonic() - stopped)
    return statistics.median(waits) * 1000


@contextlib.contextmanager
def _one_closer():
    """Sockets closed one after the other by one thread, as before (their grace periods queue)."""
    from socklab.capture import ring

    closing: queue.SimpleQueue = queue.SimpleQueue()

    def close_forever() -> None:
        while (item := closing.get()) is not None:
            ring._close_now(*item)

    closer = threading.Thread(target=close_forever, daemon=True)
    closer.start()
    ring.close_later = lambda sock, fd=None: closing.put((sock, fd))
    try:
        yield
    finally:
        ring.close_later = _close_later
        closing.put(None)  # not joined: at exit, a process does not wait for a daemon thread's queue


class _OnTheSpot(PreparedRings):
    """What run_lab did before: nothing prepared, start_captures sets each ring up itself."""

    def __init__(self, points, engine=None) -> None:
        super().__init__([], engine)


def lab_runs(tmp: Path, runs: int) -> dict[str, list[dict[str, float]]]:
    """run_lab(tcp-hello)'s timings, with and without rings prepared after up(), interleaved."""
    lab = load_lab(Path(__file__).resolve().parents[1] / "labs" / "tcp-hello")
    timings: dict[str, list[dict[str, float]]] = {"on the spot": [], "prepared": []}
    for _ in range(runs):
        for how, cls in (("on the spot", _OnTheSpot), ("prepared", PreparedRings)):
            socklab.run.PreparedRings = cls
            try:
                result = socklab.run.run_lab(lab, name="bench-capture-run", runs_dir=tmp / "runs")
            finally:
                socklab.run.PreparedRings = PreparedRings
            assert result.ok, result.error
            timings[how].append(result.timings)
    return timings


def blast(dep, engine: str, tmp: Path, seconds: float, senders: int) -> tuple[int, int, int]:
    """(sent, captured, counted as dropped) for `senders` processes blasting small datagrams."""
    point = CapturePoint("server", "eth0", "udp port 9")
    caps = start_captures([(point, dep.netns_path("server"))], tmp / f"{engine}-blast", engine=engine)
    procs = [dep.popen("client", ["python3", "-c", BLASTER, str(seconds)], stdout=subprocess.PIPE, text=True)
             for _ in range(senders)]
    sent = sum(int(p.communicate(timeout=60)[0].strip()) for p in procs)
    time.sleep(0.2)  # tcpdump loses what it has not read when it is stopped; the ring engine would not
    stop_captures(caps)
    captured = len(read_records(caps[0].path)[0])
    shutil.rmtree(tmp / f"{engine}-blast")
    return sent, captured, caps[0].dropped or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--senders", type=int, default=2, help="parallel sender processes")
    parser.add_argument("--runs", type=int, default=5, help="blasts per engine")
    parser.add_argument("--cycles", type=int, default=20, help="start/stop cycles per engine")
    parser.add_argument("--exits", type=int, default=10, help="child processes per way of closing")
    parser.add_argument("--lab-runs", type=int, default=10, help="run_lab(tcp-hello) runs per way")
    parser.add_argument("--engines", default="tcpdump,ring", help="before,after")
    args = parser.parse_args()
    engines = args.engines.split(",")
    rows = [(e, e, False) for e in engines] + ([("ring prepared", "ring", True)] if "ring" in engines else [])
    exits = {}
    timing = {}
    with tempfile.TemporaryDirectory() as tmp, socklab.up(parse_lab(LAB), name="bench-capture") as dep:
        # the server drops everything (no listener, ICMP errors rate-limited): the capture must still see it all
        dep.exec("server", ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=1000"])
        dep.exec("client", ["ping", "-c1", "192.168.11.11"])
        for nodes in (("server",), ("server", "client")):
            for name, engine, prepare in rows:
                timing[name, len(nodes)] = start_stop(dep, engine, Path(tmp), args.cycles, nodes, prepare)
            if "ring" in engines:
                for closer in ("no capture", "serial", "per socket"):
                    exits[closer, len(nodes)] = exit_wait(dep, Path(tmp), nodes, closer, args.exits)
        blasts: dict[str, list[tuple[int, int, int]]] = {e: [] for e in engines}
        for _ in range(args.runs):  # interleaved: both engines see the same machine
            for engine in engines:
                blasts[engine].append(blast(dep, engine, Path(tmp), args.seconds, args.senders))
        runs = lab_runs(Path(tmp), args.lab_runs) if args.lab_runs else {}
    print(f"capture start + stop, median of {args.cycles} (ms)")
    print(f"{'engine':<15}{'points':>7}{'start':>8}{'stop':>8}{'per point':>11}  prepared off the critical path")
    for (name, n), (start, stop, prepared) in timing.items():
        print(f"{name:<15}{n:>7}{start:>8.1f}{stop:>8.1f}{(start + stop) / n:>11.1f}  {prepared:.1f}")
    if exits:
        print(f"\na process's exit after stop_captures (sockets' release), median of {args.exits} (ms)")
        print(f"{'closing':<15}{'points':>7}{'exit wait':>11}")
        for (closer, n), wait in exits.items():
            print(f"{closer:<15}{n:>7}{wait:>11.1f}")
    if runs:
        print(f"\nrun_lab(tcp-hello), 1 capture point, median of {args.lab_runs} (ms)")
        print(f"{'rings':<13}{'up':>7}{'capture_start':>15}{'capture_stop':>14}{'down':>7}{'total':>8}")
        for how, rows_ in runs.items():
            med = {k: statistics.median(t[k] for t in rows_) * 1000 for k in ("up", "capture_start", "capture_stop",
                                                                              "down", "total")}
            print(f"{how:<13}{med['up']:>7.1f}{med['capture_start']:>15.1f}{med['capture_stop']:>14.1f}"
                  f"{med['down']:>7.1f}{med['total']:>8.1f}")
    print(f"\n{args.senders} senders x {args.seconds}s of 18-byte UDP datagrams, {args.runs} runs per engine")
    print(f"{'engine':<9}{'sent':>9}{'captured':>10}{'dropped':>9}{'loss %':>8}{'pps sent':>10}  uncounted")
    for engine, runs_ in blasts.items():
        for sent, captured, dropped in runs_:
            print(f"{engine:<9}{sent:>9}{captured:>10}{dropped:>9}{(sent - captured) / sent * 100:>8.3f}"
                  f"{sent / args.seconds:>10,.0f}  {sent - captured - dropped}")
        lossless = sum(s == c for s, c, _ in runs_)
        print(f"{engine:<9}0 lost in {lossless} of {len(runs_)} runs")


if __name__ == "__main__":
    main()
