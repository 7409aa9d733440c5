"""Grade many submissions, each in its own lab instance, up to `jobs` at a time."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from socklab.errors import SocklabError, UsageError
from socklab.grade.pairing import PairingPlan, plan_pairings, reference_programs
from socklab.grade.sandbox import SANDBOX_UID_BASE, Sandbox, check_tools
from socklab.grade.score import Grade, grade_runs
from socklab.grade.spec import GradingSpec
from socklab.grade.submission import submission_name, unpack
from socklab.model.lab import Lab
from socklab.run import RunResult, run_lab


def grading_spec(lab: Lab) -> GradingSpec:
    if lab.grading is None:
        raise UsageError(f"lab {lab.name} has no grading: section (which files, which steps, how many points)")
    return lab.grading


def grade_one(lab: Lab, submission: Path, slot: int, runs_dir: Path, backend: str | None = None) -> Grade:
    """Grade one submission in slot `slot` (its uid and instance name): one run per pairing,
    or one run when the lab declares none. Never raises."""
    spec = grading_spec(lab)
    name = submission_name(submission)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="socklab-sub-") as tmp:
            folder = unpack(submission, Path(tmp))
            missing = [f for f, fs in spec.files.items() if fs.required and not (folder / f).is_file()]
            plans = plan_pairings(lab, spec)

            def run(index: int) -> RunResult | None:
                plan = plans[index]
                if plan.student_files and all(f in missing for f in plan.student_files):
                    return None  # nothing of the student's to run
                return _run_pairing(lab, plan, folder, slot, index, runs_dir, backend)

            # pairings are independent runs: side by side, each in its own instance under its own uid
            with ThreadPoolExecutor(max_workers=len(plans), thread_name_prefix="socklab-pairing") as pool:
                results = list(pool.map(run, range(len(plans))))
        grade = grade_runs(lab, spec, list(zip(plans, results, strict=True)), name, missing)
    except UsageError as err:  # a bad submission archive is the student's problem, reported as such
        grade = Grade(submission=name, lab=lab.name, gradable=False, error=str(err))
    except SocklabError as err:
        grade = Grade(submission=name, lab=lab.name, gradable=False, error=f"infrastructure: {err}")
    except Exception as err:  # grading itself crashed: say so, keep going with the others
        detail = traceback.format_exception_only(type(err), err)[-1].strip()
        grade = Grade(submission=name, lab=lab.name, gradable=False, error=f"grading crashed: {detail}")
    grade.duration = time.perf_counter() - started
    return grade


def _run_pairing(lab: Lab, plan: PairingPlan, folder: Path, slot: int, index: int, runs_dir: Path,
                 backend: str | None):
    spec = grading_spec(lab)
    sandbox = Sandbox(uid=_uid(slot, index), limits=spec.limits, student_steps=set(plan.student_steps),
                      raw_nodes={n.name for n in lab.nodes if n.raw_sockets})
    instance = _instance(slot) + (f"-{index}" if plan.id else "")
    return run_lab(lab, name=instance, backend=backend, runs_dir=runs_dir, submission=folder, sandbox=sandbox,
                   reference=reference_programs(lab, spec, plan))


def grade_many(lab: Lab, submissions: list[Path], jobs: int, runs_dir: Path, backend: str | None = None,
               on_done: Callable[[Grade], None] | None = None) -> list[Grade]:
    """Grades in the order of `submissions`; `on_done` hears about each as it finishes."""
    return grade_jobs([(lab, path) for path in submissions], jobs, runs_dir, backend, on_done)


def grade_jobs(work: list[tuple[Lab, Path]], jobs: int, runs_dir: Path, backend: str | None = None,
               on_done: Callable[[Grade], None] | None = None) -> list[Grade]:
    """Grade (lab, submission) pairs, of one lab or several, up to `jobs` at a time, in order."""
    for lab in {id(lab): lab for lab, _ in work}.values():
        grading_spec(lab)
    check_tools()
    jobs = min(max(1, jobs), 64 // MAX_PAIRINGS)  # each slot has a block of uids
    free = list(range(jobs))
    lock = threading.Lock()

    def one(item: tuple[Lab, Path]) -> Grade:
        with lock:
            slot = free.pop()
        try:
            grade = grade_one(item[0], item[1], slot, runs_dir, backend)
        finally:
            with lock:
                free.append(slot)
        if on_done:
            on_done(grade)
        return grade

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="socklab-grade")
    try:
        return list(pool.map(one, work))
    finally:
        # interrupted: finish the gradings under way (their labs come down), start no new one
        pool.shutdown(wait=True, cancel_futures=True)


MAX_PAIRINGS = 4
"""Pairings of one submission run side by side, each under a uid of its own."""


def _uid(slot: int, pairing: int = 0) -> int:
    """Distinct per slot and pairing, and per grading process, so parallel runs never share a uid."""
    index = slot * MAX_PAIRINGS + pairing
    if index >= 64 or pairing >= MAX_PAIRINGS:
        raise UsageError(f"at most {64 // MAX_PAIRINGS} parallel jobs of {MAX_PAIRINGS} pairings each")
    return SANDBOX_UID_BASE + (os.getpid() % 256) * 64 + index


def _instance(slot: int) -> str:
    return f"g{os.getpid()}-{slot}"
