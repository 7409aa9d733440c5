"""Time `socklab run labs/tcp-hello` end to end and its parts (up, captures, steps, verify, down).

Usage: .venv/bin/python bench/run.py [--repeat N] [--backend netns|docker] [--lab tcp-hello]
Prints a table of medians. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from socklab.model.loader import load_lab  # noqa: E402
from socklab.run import run_lab  # noqa: E402

CONSOLE = "from socklab.entry import console; console()"  # what the `socklab` executable runs
PARTS = ("up", "capture_start", "steps", "capture_stop", "verify", "down", "total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--backend", default=None)
    parser.add_argument("--lab", default="tcp-hello")
    args = parser.parse_args()
    lab = load_lab(args.lab)
    samples: dict[str, list[float]] = {p: [] for p in PARTS}
    with tempfile.TemporaryDirectory() as runs:
        run_lab(lab, name="bench-run", runs_dir=Path(runs), backend=args.backend)  # warm caches
        for n in range(args.repeat):
            result = run_lab(lab, name="bench-run", runs_dir=Path(runs), backend=args.backend)
            if not result.ok:
                sys.exit(f"run {n} failed: {result.to_dict()}")
            for part in PARTS:
                samples[part].append(result.timings.get(part, 0.0))
    cli = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", CONSOLE, "run", args.lab, "--name", "bench-cli", "--runs-dir",
                        tempfile.gettempdir() + "/socklab-bench-runs"] + (["--backend", args.backend] if args.backend else []),
                       check=True, capture_output=True)
        cli.append(time.perf_counter() - t)
    print(f"socklab run {args.lab} on {result.backend}, median of {args.repeat} (library) / 5 (CLI)")
    print(f"{'part':<14}{'median ms':>10}{'max ms':>10}")
    for part in PARTS:
        print(f"{part:<14}{statistics.median(samples[part]) * 1000:>10.1f}{max(samples[part]) * 1000:>10.1f}")
    print(f"{'CLI wall':<14}{statistics.median(cli) * 1000:>10.1f}{max(cli) * 1000:>10.1f}")
    bare = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
    print(f"{'python -c pass':<14}{statistics.median(bare) * 1000:>10.1f}{max(bare) * 1000:>10.1f}")


if __name__ == "__main__":
    main()
