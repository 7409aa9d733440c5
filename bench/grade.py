"""Grade N copies of the tcp-hello reference solution, with the sandbox's private view and cgroups
(after) and without them (before, rlimits only), side by side: submissions/minute and the time split.
The lab's pairings (cross-testing: one run per pairing, side by side) are on in both; a third
column grades with one plain run per submission, to show what cross-testing costs.

Usage: .venv/bin/python bench/grade.py [-n 40] [--jobs 2] [--engines tcpdump,ring]
With --engines, the columns are the capture engines instead (full sandbox on): before
(tcpdump) and after (the in-process ring).
Every submission is fully verified (captures + outputs). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from socklab.grade.batch import grade_many  # noqa: E402
from socklab.grade.sandbox import FULL, Isolation  # noqa: E402
from socklab.model.loader import load_lab  # noqa: E402

PARTS = ("up", "capture_start", "steps", "capture_stop", "verify", "down")
MODES = {  # name -> (isolation, the lab's pairings)
    "before (rlimits only)": (Isolation(view=False, cgroups=False), True),
    "after (view + cgroup)": (FULL, True),
    "after, one run/sub": (FULL, False),
}


def measure(lab, subs: list[Path], jobs: int, runs: Path, mode: tuple[Isolation, bool], engine: str | None = None
            ) -> tuple[float, list]:
    isolation, pairings = mode
    if not pairings and lab.grading is not None:
        lab = dataclasses.replace(lab, grading=lab.grading.model_copy(update={"pairings": []}))
    if engine:
        os.environ["SOCKLAB_CAPTURE_ENGINE"] = engine
    started = time.perf_counter()
    grades = grade_many(lab, subs, jobs=jobs, runs_dir=runs, isolation=isolation).grades
    return time.perf_counter() - started, grades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--lab", default="tcp-hello")
    parser.add_argument("--rounds", type=int, default=2, help="alternate the modes this many times (best kept)")
    parser.add_argument("--engines", default=None, help="compare capture engines instead, e.g. tcpdump,ring")
    args = parser.parse_args()
    lab = load_lab(args.lab)
    best: dict[str, tuple[float, list]] = {}
    columns = ({f"captures: {e}": ((FULL, True), e) for e in args.engines.split(",")} if args.engines
               else {name: (mode, None) for name, mode in MODES.items()})
    with tempfile.TemporaryDirectory() as tmp:
        subs = []
        for n in range(args.n):
            folder = Path(tmp) / "subs" / f"s{n:03d}"
            shutil.copytree(lab.folder / "solution", folder)
            subs.append(folder)
        for mode, engine in columns.values():  # imports, caches
            measure(lab, subs[:2], args.jobs, Path(tmp) / "warm", mode, engine)
        for r in range(args.rounds):
            for name, (mode, engine) in columns.items():
                elapsed, grades = measure(lab, subs, args.jobs, Path(tmp) / f"runs-{r}-{len(best)}", mode, engine)
                if name not in best or elapsed < best[name][0]:
                    best[name] = (elapsed, grades)
    names = list(columns)
    print(f"{args.n} submissions of {args.lab}, --jobs {args.jobs}, best of {args.rounds} alternating rounds")
    print(f"{'':<16}" + "".join(f"{n:>24}" for n in names))
    rates = [len(best[n][1]) / best[n][0] * 60 for n in names]
    print(f"{'submissions/min':<16}" + "".join(f"{r:>24.0f}" for r in rates))
    runs = [max(1, len(best[n][1][0].pairings)) for n in names]
    print(f"{'runs/submission':<16}" + "".join(f"{r:>24}" for r in runs))
    full = [sum(g.gradable and g.score == g.max_score for g in best[n][1]) for n in names]
    print(f"{'full marks':<16}" + "".join(f"{f:>21}/{args.n:<2}" for f in full))
    print(f"{'sandbox':<16}" + "".join(f"{best[n][1][0].sandbox.get('limits', '?'):>24}" for n in names))
    for part in (*PARTS, "per grade"):
        medians = [statistics.median(g.duration if part == "per grade" else g.timings.get(part, 0.0)
                                     for g in best[n][1]) * 1000 for n in names]
        print(f"{part + ' ms':<16}" + "".join(f"{m:>24.1f}" for m in medians))
    print(f"after / before throughput: {rates[1] / rates[0]:.2f}x")
    print(f"with pairings / one run throughput: {rates[1] / rates[2]:.2f}x")


if __name__ == "__main__":
    main()
