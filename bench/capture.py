"""Captures before (tcpdump) and after (in-process TPACKET_V3 ring), side by side in one run.

Usage: .venv/bin/python bench/capture.py [--senders 2] [--runs 5] [--seconds 1.5]
Prints start/stop time per capture point, and sent/captured/dropped when senders saturate
the cores with small UDP datagrams. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import socklab  # noqa: E402
from socklab.capture import start_captures, stop_captures  # noqa: E402
from socklab.model.lab import CapturePoint  # noqa: E402
from socklab.model.loader import parse_lab  # noqa: E402
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


def start_stop(dep, engine: str, tmp: Path, cycles: int) -> tuple[float, float]:
    """Median start and stop of both capture points, in ms, with one datagram in between."""
    points = [(CapturePoint(n, "eth0"), dep.netns_path(n)) for n in ("server", "client")]
    starts, stops = [], []
    for n in range(cycles):
        t = time.perf_counter()
        caps = start_captures(points, tmp / f"{engine}-ss{n}", engine=engine)
        starts.append(time.perf_counter() - t)
        dep.exec("client", ["true"])
        t = time.perf_counter()
        stop_captures(caps)
        stops.append(time.perf_counter() - t)
    return statistics.median(starts) * 1000, statistics.median(stops) * 1000


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
    parser.add_argument("--engines", default="tcpdump,ring", help="before,after")
    args = parser.parse_args()
    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory() as tmp, socklab.up(parse_lab(LAB), name="bench-capture") as dep:
        # the server drops everything (no listener, ICMP errors rate-limited): the capture must still see it all
        dep.exec("server", ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=1000"])
        dep.exec("client", ["ping", "-c1", "192.168.11.11"])
        timing = {e: start_stop(dep, e, Path(tmp), args.cycles) for e in engines}
        blasts: dict[str, list[tuple[int, int, int]]] = {e: [] for e in engines}
        for _ in range(args.runs):  # interleaved: both engines see the same machine
            for engine in engines:
                blasts[engine].append(blast(dep, engine, Path(tmp), args.seconds, args.senders))
    print(f"capture start + stop, 2 points, median of {args.cycles} (ms)")
    print(f"{'engine':<9}{'start':>8}{'stop':>8}{'per point':>11}")
    for engine, (start, stop) in timing.items():
        print(f"{engine:<9}{start:>8.1f}{stop:>8.1f}{(start + stop) / 2:>11.1f}")
    print(f"\n{args.senders} senders x {args.seconds}s of 18-byte UDP datagrams, {args.runs} runs per engine")
    print(f"{'engine':<9}{'sent':>9}{'captured':>10}{'dropped':>9}{'loss %':>8}{'pps sent':>10}  uncounted")
    for engine, runs in blasts.items():
        for sent, captured, dropped in runs:
            print(f"{engine:<9}{sent:>9}{captured:>10}{dropped:>9}{(sent - captured) / sent * 100:>8.3f}"
                  f"{sent / args.seconds:>10,.0f}  {sent - captured - dropped}")
        lossless = sum(s == c for s, c, _ in runs)
        print(f"{engine:<9}0 lost in {lossless} of {len(runs)} runs")


if __name__ == "__main__":
    main()
