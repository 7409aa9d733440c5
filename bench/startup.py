"""How long `socklab --help` takes against a bare `python -c pass` of the same interpreter.

Both are started alternately in one run (the machine's noise hits both alike) and the
ratio of the medians is printed. Issue 13's budget: at most 6x.

    .venv/bin/python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
BUDGET = 6.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "100"}
    socklab = [str(BIN / "socklab")] if (BIN / "socklab").exists() else [sys.executable, "-m", "socklab.cli"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "socklab --help": [*socklab, "--help"],
        "socklab": socklab[:],
        "socklab run --help": [*socklab, "run", "--help"],
    }
    for argv in commands.values():  # warm the page cache and .pyc files
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            times[name].append(timed(argv, env))
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<22}{'median ms':>10}{'ratio':>8}   ({args.runs} runs each, interleaved)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<22}{median * 1000:>10.1f}{median / base:>7.1f}x")
    ratio = statistics.median(times["socklab --help"]) / base
    print(f"socklab --help: {ratio:.1f}x a bare interpreter (budget {BUDGET:g}x): {'ok' if ratio <= BUDGET else 'OVER'}")


if __name__ == "__main__":
    main()
