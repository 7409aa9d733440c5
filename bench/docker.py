"""Bring-up and teardown of the same labs on the docker and netns backends, one run each.

    python bench/docker.py [--sizes 2,10,50] [--topology chain|star]

A `chain` is N routers in a line (N-1 point-to-point links, one subnet each); a `star`
is N-1 hosts on one switch (N nodes in all). Needs root and a Docker engine with the
agent image (make image). Prints one table; times are wall-clock seconds through the
library API (`socklab.up(...)`, `Deployment.down()`), ledger included.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# This file is named docker.py: keep its folder off sys.path, or `import docker` finds it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import socklab  # noqa: E402
from socklab.model.loader import parse_lab  # noqa: E402


def chain(size: int) -> str:
    nodes = "\n".join(f"  n{i}: {{kind: router}}" for i in range(size))
    links = "\n".join(
        f"  - {{endpoints: [n{i}:eth1, n{i + 1}:eth0], subnet: 10.{i // 250}.{i % 250}.0/24}}" for i in range(size - 1)
    )
    return f"name: bench-chain\nnodes:\n{nodes}\nlinks:\n{links}\n"


def star(size: int) -> str:
    hosts = "\n".join(f"  h{i}: {{}}" for i in range(1, size))
    links = "\n".join(f"  - [h{i}, sw]" for i in range(1, size))
    return f"name: bench-star\nnodes:\n  sw: {{kind: switch, subnet: 10.99.0.0/16}}\n{hosts}\nlinks:\n{links}\n"


def measure(text: str, backend: str, instance: str) -> tuple[float, float]:
    lab = parse_lab(text, Path(f"/tmp/socklab-bench/{instance}/lab.yaml"))
    start = time.perf_counter()
    dep = socklab.up(lab, backend=backend, name=instance)
    try:
        up = time.perf_counter() - start
    finally:
        start = time.perf_counter()
        dep.down()
    return up, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,10,50")
    parser.add_argument("--topology", choices=("chain", "star"), default="chain")
    args = parser.parse_args()
    make = chain if args.topology == "chain" else star
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        text = make(size)
        times = {b: measure(text, b, f"bench-{b[0]}{size}") for b in ("netns", "docker")}
        rows.append((size, times))
        print(f"  {size} nodes done", file=sys.stderr)
    print(f"\n{args.topology} of N nodes, one run each (seconds)\n")
    print(f"{'N':>4} | {'netns up':>9} {'netns down':>11} | {'docker up':>10} {'docker down':>12} | {'up ratio':>8}")
    print("-" * 68)
    for size, t in rows:
        (nu, nd), (du, dd) = t["netns"], t["docker"]
        print(f"{size:>4} | {nu:>9.3f} {nd:>11.3f} | {du:>10.3f} {dd:>12.3f} | {du / nu:>7.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
