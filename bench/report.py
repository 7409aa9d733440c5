"""Bench: report.html build time and size, and `socklab graph` of big labs.

    .venv/bin/python bench/report.py [--packets 100000] [--run]

Rows:
- graph: `socklab graph` of 1000-node chain, star and linear labs, as a whole command
  (process start, load, layout, SVG) and in-process (load / draw). Target < 2 s.
- report tcp-hello: write_report on a tcp-hello run folder (the 12 packets of the real
  exchange). With --run, on a real `socklab run tcp-hello` (root; take the kernel lock:
  flock /tmp/socklab-kernel.lock ...). Target < 100 ms.
- report 100k: a run folder whose capture holds N packets (bench/verify.py's mix: the
  tcp-hello exchange buried in bulk TCP and UDP noise, nearly every packet its own flow),
  verified for real; and N packets in four long UDP flows. Targets < 3 s and < 5 MB.
Medians of several builds; the machine is shared, so compare rows of one run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from topology import chain_yaml, linear_yaml, star_yaml  # bench/topology.py
from verify import frames as mixed_frames  # bench/verify.py

from socklab.model.loader import parse_lab
from socklab.report import write_report
from socklab.report.testing import fake_run_folder
from socklab.report.topology import topology_svg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.report_frames import TCP_HELLO_STEPS, tcp_hello_frames  # noqa: E402


def few_flows(n: int) -> list[tuple[float, bytes]]:
    """n UDP datagrams in four flows (long conversations: the ladder pages and summarises)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    t = bytearray(bytes(Ether() / IP(src="192.168.11.12", dst="192.168.11.11") / UDP(sport=1, dport=9) / (b"x" * 64)))
    out = []
    for i in range(n):
        struct.pack_into("!H", t, 34, 1000 + i % 4)
        out.append((1_700_000_001 + i * 1e-5, bytes(t)))
    return out


def median_time(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_graph(tmp: Path) -> list[tuple[str, str, str]]:
    rows = []
    for make in (chain_yaml, star_yaml, linear_yaml):
        text = make(1000)
        folder = tmp / make.__name__
        folder.mkdir()
        (folder / "lab.yaml").write_text(text)
        out = tmp / f"{make.__name__}.svg"
        cli = [str(REPO / ".venv/bin/socklab"), "graph", str(folder), "-o", str(out)]
        whole = median_time(lambda cli=cli: subprocess.run(cli, check=True), 3)
        load = median_time(lambda text=text: parse_lab(text), 3)
        lab = parse_lab(text)
        draw = median_time(lambda lab=lab: topology_svg(lab), 3)
        rows.append((f"graph {lab.name}", f"{whole:.2f} s (load {load * 1000:.0f} ms, draw {draw * 1000:.0f} ms)",
                     f"{out.stat().st_size / 1e6:.2f} MB svg"))
    return rows


def bench_report(folder: Path, label: str, n: int) -> tuple[str, str, str]:
    elapsed = median_time(lambda: write_report(folder), n)
    size = (folder / "report.html").stat().st_size
    return label, f"{elapsed * 1000:.0f} ms" if elapsed < 1 else f"{elapsed:.2f} s", f"{size / 1e6:.2f} MB" if size > 1e5 else f"{size / 1e3:.0f} kB"


def real_tcp_hello(tmp: Path) -> Path:
    from socklab.model.loader import load_lab
    from socklab.run import run_lab

    result = run_lab(load_lab("tcp-hello"), name="bench-report", runs_dir=tmp / "runs")
    if not result.ok:
        raise SystemExit(f"the tcp-hello run failed: {result.error or result.to_dict()}")
    return result.folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--run", action="store_true", help="also build the report of a real tcp-hello run (root)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="socklab-bench-report-"))
    try:
        rows = []
        hello = fake_run_folder(tmp / "hello", "tcp-hello", tcp_hello_frames(), steps=TCP_HELLO_STEPS)
        write_report(hello)  # warm imports
        rows.append(bench_report(hello, "report tcp-hello (12 packets)", 10))
        if args.run:
            rows.append(bench_report(real_tcp_hello(tmp), "report tcp-hello, real run", 10))
        t = time.perf_counter()
        big = fake_run_folder(tmp / "big", "tcp-hello", mixed_frames(args.packets), steps=TCP_HELLO_STEPS)
        made = time.perf_counter() - t
        rows.append(bench_report(big, f"report {args.packets:,} packets, ~all distinct flows", 3))
        few = fake_run_folder(tmp / "few", "tcp-hello", tcp_hello_frames() + few_flows(args.packets),
                              steps=TCP_HELLO_STEPS)
        rows.append(bench_report(few, f"report {args.packets:,} packets, 4 long UDP flows", 3))
        rows += bench_graph(tmp)
        width = max(len(r[0]) for r in rows)
        print(f"{'what':<{width}}  {'time (median)':<40} size")
        for label, when, size in rows:
            print(f"{label:<{width}}  {when:<40} {size}")
        print(f"(the {args.packets:,}-packet run folder took {made:.1f} s to make: pcap written, verified)")
        print("targets: tcp-hello < 100 ms; 100k packets < 3 s and < 5 MB; graph of 1000 nodes < 2 s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
