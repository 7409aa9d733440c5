"""Grade many submissions, each in its own lab instance, up to `jobs` at a time."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from socklab.errors import SocklabError, SubmissionError, UsageError
from socklab.grade.pairing import PairingPlan, plan_pairings, reference_programs
from socklab.grade.sandbox import FULL, SANDBOX_UID_BASE, Isolation, Sandbox, check_tools
from socklab.grade.score import Grade, grade_runs
from socklab.grade.submission import submission_name, unpack
from socklab.model.grading import GradingSpec
from socklab.model.lab import Lab
from socklab.run import RunResult, run_lab


def grading_spec(lab: Lab) -> GradingSpec:
    if lab.grading is None:
        raise UsageError(f"lab {lab.name} has no grading: section (which files, which steps, how many points)")
    return lab.grading


def grade_one(lab: Lab, submission: Path, slot: int, runs_dir: Path, backend: str | None = None,
              isolation: Isolation = FULL) -> Grade:
    """Grade one submission in slot `slot` (its uid and instance name): one run per pairing,
    or one run when the lab declares none. Never raises."""
    spec = grading_spec(lab)
    name = submission_name(submission)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="socklab-sub-") as tmp:
            unpacked = unpack(submission, Path(tmp), spec.limits)
            folder = unpacked.folder
            missing = [f for f, fs in spec.files.items() if fs.required and not (folder / f).is_file()]
            plans = plan_pairings(lab, spec)

            def run(index: int) -> RunResult | None:
                plan = plans[index]
                if plan.student_files and all(f in missing for f in plan.student_files):
                    return None  # nothing of the student's to run
                return _run_pairing(lab, plan, folder, slot, index, runs_dir, backend, isolation)

            # pairings are independent runs: side by side, each in its own instance under its own uid
            with ThreadPoolExecutor(max_workers=len(plans), thread_name_prefix="socklab-pairing") as pool:
                results = list(pool.map(run, range(len(plans))))
        grade = grade_runs(lab, spec, list(zip(plans, results, strict=True)), name, missing)
        grade.summary = "\n".join(x for x in (*unpacked.notes, grade.summary) if x)
    except SubmissionError as err:  # a bad submission archive is the student's problem, reported as such
        grade = Grade(submission=name, lab=lab.name, gradable=False, error=str(err), failure="submission")
    except SocklabError as err:
        grade = Grade(submission=name, lab=lab.name, gradable=False, error=f"infrastructure: {err}",
                      failure="infrastructure")
    except Exception as err:  # grading itself crashed: say so, keep going with the others
        detail = traceback.format_exception_only(type(err), err)[-1].strip()
        grade = Grade(submission=name, lab=lab.name, gradable=False, error=f"grading crashed: {detail}",
                      failure="crash")
    grade.duration = time.perf_counter() - started
    return grade


def _run_pairing(lab: Lab, plan: PairingPlan, folder: Path, slot: int, index: int, runs_dir: Path,
                 backend: str | None, isolation: Isolation) -> RunResult:
    spec = grading_spec(lab)
    student_steps = set(plan.student_steps)
    sandbox = Sandbox(
        uid=_uid(slot, index), limits=spec.limits, student_steps=student_steps,
        raw_nodes={n.name for n in lab.nodes if n.raw_sockets}, isolation=isolation,
        student_nodes={st.node for st in lab.scenario if st.id in student_steps},
    )
    instance = _instance(slot) + (f"-{index}" if plan.id else "")
    return run_lab(lab, name=instance, backend=backend, runs_dir=runs_dir, submission=folder, sandbox=sandbox,
                   reference=reference_programs(lab, spec, plan))


@dataclass
class GradeReport:
    """Every submission's grade, in the order given, whether grading completed or not.

    `stopped_by` is what ended grading early (Ctrl-C, a failed pre-check); the submissions it
    kept from being graded have `failure == "stopped"`. The caller writes the report, then
    re-raises `stopped_by`.
    """

    lab: str
    grades: list[Grade] = field(default_factory=list)
    stopped_by: BaseException | None = None

    @property
    def infrastructure_failures(self) -> list[Grade]:
        """Submissions not graded for a reason that is not the student's."""
        return [g for g in self.grades if not g.gradable and g.failure not in (None, "submission")]


def grade_many(lab: Lab, submissions: list[Path], jobs: int, runs_dir: Path, backend: str | None = None,
               on_done: Callable[[Grade], None] | None = None, isolation: Isolation = FULL) -> GradeReport:
    """Grade each submission; `on_done` hears about each as it finishes. Never raises: an
    interruption or a failed pre-check ends in `report.stopped_by`, and the report still holds
    one grade per submission."""
    done: dict[int, Grade] = {}

    def finished(index: int, grade: Grade) -> None:
        done[index] = grade
        if on_done:
            on_done(grade)

    report = GradeReport(lab=lab.name)
    try:
        _grade_all([(lab, p) for p in submissions], jobs, runs_dir, backend, finished, isolation)
    except BaseException as err:  # noqa: BLE001 - handed back to the caller in the report
        report.stopped_by = err
    reason = f"grading stopped before this submission: {type(report.stopped_by).__name__} {report.stopped_by}"
    report.grades = [done.get(i) or Grade(submission=submission_name(p), lab=lab.name, gradable=False,
                                          error=reason.strip(), failure="stopped")
                     for i, p in enumerate(submissions)]
    return report


def grade_jobs(work: list[tuple[Lab, Path]], jobs: int, runs_dir: Path, backend: str | None = None,
               on_done: Callable[[Grade], None] | None = None, isolation: Isolation = FULL) -> list[Grade]:
    """Grade (lab, submission) pairs, of one lab or several (selftest), `jobs` at a time, in order.
    Unlike grade_many, an interruption propagates once the gradings under way are done."""
    done: dict[int, Grade] = {}

    def finished(index: int, grade: Grade) -> None:
        done[index] = grade
        if on_done:
            on_done(grade)

    _grade_all(work, jobs, runs_dir, backend, finished, isolation)
    return [done[i] for i in range(len(work))]


def _grade_all(work: list[tuple[Lab, Path]], jobs: int, runs_dir: Path, backend: str | None,
               finished: Callable[[int, Grade], None], isolation: Isolation) -> None:
    for lab in {id(lab): lab for lab, _ in work}.values():
        grading_spec(lab)
    check_tools()
    jobs = min(max(1, jobs), 64 // MAX_PAIRINGS)  # each slot has a block of uids
    free = list(range(jobs))
    lock = threading.Lock()

    def one(index: int, item: tuple[Lab, Path]) -> Grade:
        with lock:
            slot = free.pop()
        try:
            grade = grade_one(item[0], item[1], slot, runs_dir, backend, isolation)
        finally:
            with lock:
                free.append(slot)
        finished(index, grade)
        return grade

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="socklab-grade")
    try:
        list(pool.map(one, range(len(work)), work))
    finally:
        # interrupted: finish the gradings under way (their labs come down), start no new one
        pool.shutdown(wait=True, cancel_futures=True)


MAX_PAIRINGS = 4
"""Pairings of one submission run side by side, each under a uid of its own."""


def _uid(slot: int, pairing: int = 0) -> int:
    """Distinct per slot and pairing, and per grading process, so parallel runs never share a uid."""
    return SANDBOX_UID_BASE + (os.getpid() % 256) * 64 + slot * MAX_PAIRINGS + pairing


def _instance(slot: int) -> str:
    return f"g{os.getpid()}-{slot}"
