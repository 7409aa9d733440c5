"""Grade N copies of the tcp-hello reference solution; print submissions/minute and the time split.

Usage: .venv/bin/python bench/grade.py [-n 40] [--jobs 2] [--engines tcpdump,ring]
Every submission is fully verified (captures + outputs). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from socklab.grade.batch import grade_many  # noqa: E402
from socklab.model.loader import load_lab  # noqa: E402

PARTS = ("up", "capture_start", "steps", "capture_stop", "verify", "down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--lab", default="tcp-hello")
    parser.add_argument("--engines", default="ring", help="capture engines to compare, e.g. tcpdump,ring")
    args = parser.parse_args()
    lab = load_lab(args.lab)
    with tempfile.TemporaryDirectory() as tmp:
        subs = []
        for n in range(args.n):
            folder = Path(tmp) / "subs" / f"s{n:03d}"
            shutil.copytree(lab.folder / "solution", folder)
            subs.append(folder)
        results = {}
        for engine in args.engines.split(","):
            os.environ["SOCKLAB_CAPTURE_ENGINE"] = engine
            grade_many(lab, subs[:2], jobs=args.jobs, runs_dir=Path(tmp) / f"warm-{engine}")  # imports, caches
            started = time.perf_counter()
            grades = grade_many(lab, subs, jobs=args.jobs, runs_dir=Path(tmp) / f"runs-{engine}").grades
            results[engine] = (grades, time.perf_counter() - started)
    for engine, (grades, elapsed) in results.items():
        full = sum(g.gradable and g.score == g.max_score for g in grades)
        print(f"[captures: {engine}] graded {len(grades)} submissions of {args.lab} with --jobs {args.jobs} in "
              f"{elapsed:.2f}s: {len(grades) / elapsed * 60:.0f} submissions/min, {full}/{len(grades)} full marks")
        print(f"{'part':<14}{'median ms':>10}{'share':>8}")
        total = sum(statistics.median(g.timings.get(p, 0.0) for g in grades) for p in PARTS)
        for part in PARTS:
            median = statistics.median(g.timings.get(part, 0.0) for g in grades)
            print(f"{part:<14}{median * 1000:>10.1f}{median / total * 100:>7.0f}%")
        print(f"{'per grade':<14}{statistics.median(g.duration for g in grades) * 1000:>10.1f}")


if __name__ == "__main__":
    main()
