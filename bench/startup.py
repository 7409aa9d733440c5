"""How long socklab's help screens take against a bare `python -c pass` of the same interpreter.

All commands are started alternately in one run (the machine's noise hits them alike) and the
ratio of the medians is printed. Issue 13's budget: at most 6x for `socklab --help` and for every
`socklab CMD --help` (both served from entry.py's cache after the first). The "(no cache)" row
renders with typer each time (SOCKLAB_NO_HELP_CACHE=1): what a command's help cost before.

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
COMMAND_HELPS = (["run", "--help"], ["grade", "-h"], ["link", "--help"], ["capture", "--help"])


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {**os.environ, "COLUMNS": "100"}
    socklab = [str(BIN / "socklab")] if (BIN / "socklab").exists() else [sys.executable, "-m", "socklab.entry"]
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "socklab --help": ([*socklab, "--help"], env),
        "socklab": (socklab[:], env),
        **{f"socklab {' '.join(a)}": ([*socklab, *a], env) for a in COMMAND_HELPS},
        "socklab run --help (no cache)": ([*socklab, "run", "--help"], {**env, "SOCKLAB_NO_HELP_CACHE": "1"}),
    }
    for argv, environ in commands.values():  # warm the page cache, .pyc files and the help cache
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, (argv, environ) in commands.items():
            times[name].append(timed(argv, environ))
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<32}{'median ms':>10}{'ratio':>8}{'spread ms':>12}   ({args.runs} runs each, interleaved)")
    for name, values in times.items():
        median = statistics.median(values)
        spread = f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f}"
        print(f"{name:<32}{median * 1000:>10.1f}{median / base:>7.1f}x{spread:>12}")
    checked = ["socklab --help", *(f"socklab {' '.join(a)}" for a in COMMAND_HELPS)]
    for name in checked:
        ratio = statistics.median(times[name]) / base
        print(f"{name}: {ratio:.1f}x a bare interpreter (budget {BUDGET:g}x): {'ok' if ratio <= BUDGET else 'OVER'}")


if __name__ == "__main__":
    main()
