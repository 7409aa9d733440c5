"""Time `socklab run labs/tcp-hello` end to end and its parts (up, captures, steps, verify, down).

Usage: .venv/bin/python bench/run.py [--repeat N] [--cli-repeat N] [--backend netns|docker] [--lab tcp-hello]
Prints the library's parts (medians) and the CLI beside its floors (alternated). A benchmark, not a test.
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
    parser.add_argument("--cli-repeat", type=int, default=10, help="alternating rounds of the CLI table")
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
    print(f"socklab run {args.lab} on {result.backend}, median of {args.repeat} (library)")
    print(f"{'part':<14}{'median ms':>10}{'max ms':>10}")
    for part in PARTS:
        print(f"{part:<14}{statistics.median(samples[part]) * 1000:>10.1f}{max(samples[part]) * 1000:>10.1f}")
    cli_table(args)


def cli_table(args: argparse.Namespace) -> None:
    """The command line as a user types it, beside the floors it stands on, alternated so that a
    machine changing speed meanwhile moves every row alike: a bare interpreter, one of the lab's
    programs alone (a Python start and `import socket`: tcp-hello runs two, one after the other),
    pydantic's own import, and socklab's imports for a run."""
    py = sys.executable
    with tempfile.TemporaryDirectory() as cwd:
        rows = {
            f"socklab run {args.lab}": [py, "-c", CONSOLE, "run", args.lab],  # the fast path, runs/ in cwd
            "  with an option": [py, "-c", CONSOLE, "run", args.lab, "--runs-dir", cwd + "/other"],  # via typer
            "python -c pass": [py, "-c", "pass"],
            "  import socket": [py, "-c", "import socket"],
            "  import pydantic": [py, "-c", "from pydantic import BaseModel"],
            "  socklab imports": [py, "-c", "import socklab.cli_run, socklab.run, socklab.model.loader"],
        }
        if args.backend:
            for key in list(rows)[:2]:
                rows[key] = [*rows[key], "--backend", args.backend]
        times: dict[str, list[float]] = {k: [] for k in rows}
        for _ in range(args.cli_repeat):
            for key, argv in rows.items():
                t = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True, cwd=cwd)
                times[key].append(time.perf_counter() - t)
    bare = min(times["python -c pass"])
    print(f"\nthrough the CLI, {args.cli_repeat} alternating runs each")
    print(f"{'command':<28}{'min ms':>9}{'median ms':>11}{'min / bare':>12}")
    for key, xs in times.items():
        print(f"{key:<28}{min(xs) * 1000:>9.1f}{statistics.median(xs) * 1000:>11.1f}{min(xs) / bare:>11.1f}x")

if __name__ == "__main__":
    main()
