"""From a run's results to a grade: points per test, feedback that teaches, and the verdict.

An infrastructure failure is "not graded" with its reason, never the student's zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from socklab.capture_loss import is_incomplete
from socklab.grade.pairing import PairingPlan, plan_pairings
from socklab.model.grading import GradingSpec
from socklab.model.lab import Lab
from socklab.run import RunResult

TAIL = 1500


@dataclass
class CheckGrade:
    id: str
    title: str
    score: float
    max_score: float
    passed: bool
    visibility: str
    feedback: str  # what was expected and what was seen
    output: str = ""  # the tail of the programs' output that matters for this test
    skipped: bool = False  # not checked: a prerequisite (needs) did not pass, or a file is missing
    pairing: str = ""  # the pairing whose run this test comes from ("" without pairings)
    check: str = ""  # the expectation checked (the id is "pairing:check" with pairings)

    def __post_init__(self) -> None:
        self.check = self.check or self.id

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else "passed" if self.passed else "failed"


@dataclass
class PairingGrade:
    """How the student's side did against the other one, in one sentence."""

    id: str
    under_test: list[str]
    sides: dict[str, str]
    score: float
    max_score: float
    verdict: str  # "your client works with the reference server"
    run_folder: str | None = None


Failure = Literal["submission", "infrastructure", "crash", "stopped"]
"""Why a submission was not graded: its own fault (unusable archive), the lab's machinery,
a bug in grading, or grading stopped (Ctrl-C, a failed pre-check) before it."""


@dataclass
class Grade:
    submission: str
    lab: str
    gradable: bool = True
    error: str | None = None  # why it could not be graded (infrastructure), or a crash of grading
    failure: Failure | None = None  # the kind of `error`
    missing: list[str] = field(default_factory=list)
    tests: list[CheckGrade] = field(default_factory=list)
    pairings: list[PairingGrade] = field(default_factory=list)
    duration: float = 0.0
    run_folder: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    sandbox: dict[str, str] = field(default_factory=dict)  # what isolated the programs: view, limits

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 4)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(score=self.score, max_score=self.max_score)
        return data


def dependent_checks(lab: Lab, spec: GradingSpec, filename: str) -> set[str]:
    """Expectations that cannot pass without this file."""
    file_spec = spec.files[filename]
    if file_spec.checks is not None:
        return set(file_spec.checks)
    steps = set(file_spec.steps)
    found = set()
    for expectation in lab.expect:
        refs = expectation.references()
        if refs["steps"] & steps:
            found.add(expectation.id)
        elif expectation.kind != "output":
            found.add(expectation.id)  # traffic checks depend on every program of the exchange
    return found


def grade_run(lab: Lab, spec: GradingSpec, run: RunResult, submission: str, missing: list[str]) -> Grade:
    """The grade of one plain run (as if the lab declared no pairings)."""
    return grade_runs(lab, spec, [(plan_pairings(lab, spec.model_copy(update={"pairings": []}))[0], run)],
                      submission, missing)


def grade_runs(lab: Lab, spec: GradingSpec, runs: list[tuple[PairingPlan, RunResult | None]], submission: str,
               missing: list[str]) -> Grade:
    """One grade from the runs of a submission's pairings (a run is None when the pairing had
    nothing of the student's to run)."""
    grade = Grade(submission=submission, lab=lab.name, missing=missing)
    done = [run for _, run in runs if run is not None]
    if done:
        grade.run_folder, grade.sandbox = str(done[0].folder), done[0].sandbox or {}
        grade.timings = _sum_timings([run.timings for run in done])
        grade.duration = max(run.timings.get("total", 0.0) for run in done)  # they run side by side
    verdicts = []
    for plan, run in runs:
        if run is not None and run.error:
            grade.gradable, grade.failure = False, "infrastructure"
            grade.error = f"the lab could not run{f' ({plan.words()})' if plan.id else ''}: {run.error}"
            return grade
        tests = _pairing_tests(lab, spec, plan, run, [m for m in missing if m in plan.student_files], grade)
        grade.tests += tests
        if plan.id:
            failed = [t.check for t in tests if not t.passed]
            pairing = PairingGrade(id=plan.id, under_test=plan.under_test, sides=dict(plan.sides),
                                   score=round(sum(t.score for t in tests), 4),
                                   max_score=round(sum(t.max_score for t in tests), 4), verdict=plan.verdict(failed),
                                   run_folder=str(run.folder) if run is not None else None)
            grade.pairings.append(pairing)
            verdicts.append(pairing.verdict)
    problems = [f"step {s.id}{f' ({plan.id})' if plan.id else ''}: {s.problem}"
                for plan, run in runs if run is not None for s in run.steps if not s.ok]
    grade.summary = "\n".join(verdicts + [f"missing file: {m}" for m in missing] + problems)
    return grade


def _pairing_tests(lab: Lab, spec: GradingSpec, plan: PairingPlan, run: RunResult | None, missing: list[str],
                   grade: Grade) -> list[CheckGrade]:
    """The tests of one pairing's run: the checks it grades, attributed to the side under test."""
    skipped: dict[str, str] = {}
    for filename in missing:
        for check in dependent_checks(lab, spec, filename):
            skipped.setdefault(check, filename)
    if run is None:  # nothing of the student's ran in this pairing
        skipped.update(dict.fromkeys(plan.checks, ", ".join(missing)))
    steps = {s.id: s for s in run.steps} if run is not None else {}
    results = {r.id: r for r in run.expectations} if run is not None else {}
    tests = []
    for expectation in lab.expect:
        if expectation.id not in plan.checks:
            continue
        result = results.get(expectation.id)
        max_score = round(spec.points.get(expectation.id, expectation.points) * plan.scale, 4)
        visibility = spec.visibility.get(expectation.id, spec.default_visibility)
        title = f"{expectation.title} ({plan.words()})" if plan.id else expectation.title
        common = dict(id=plan.test_id(expectation.id), title=title, max_score=max_score, visibility=visibility,
                      pairing=plan.id, check=expectation.id)
        if expectation.id in skipped:
            tests.append(CheckGrade(**common, score=0.0, passed=False, skipped=True,
                                    feedback=f"not checked: the submission has no {skipped[expectation.id]}"))
            continue
        if result is not None and is_incomplete(result.error):  # the capture's fault, never the student's
            tests.append(CheckGrade(**common, score=0.0, passed=False, feedback=result.error or ""))
            grade.gradable, grade.failure = False, "infrastructure"
            grade.error = grade.error or f"infrastructure: {result.error}"
            continue
        if result is None or result.error:
            grade.gradable, grade.failure = False, "infrastructure"
            grade.error = f"check {expectation.id} could not run: {result.error if result else 'no result'}"
            continue
        output = _related_output(expectation, steps, plan.reference_steps)
        feedback = "passed" if result.passed else "\n".join(x for x in (result.message, result.diff) if x)
        if plan.mixed and not result.passed and not result.skipped:
            feedback = f"{plan.words()}: {feedback}"
        tests.append(CheckGrade(**common, score=max_score if result.passed else 0.0, passed=result.passed,
                                feedback=feedback, output="" if result.passed or result.skipped else output,
                                skipped=result.skipped))
    return tests


def _sum_timings(timings: list[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for part in timings:
        for key, value in part.items():
            total[key] = total.get(key, 0.0) + value
    return total


def _related_output(expectation, steps: dict, reference: frozenset[str] = frozenset()) -> str:
    """The tail of stdout/stderr of the steps an expectation names (or of every failed step).

    Of a reference program, only the last line of its stderr: a traceback would show its source.
    """
    named = expectation.references()["steps"]
    chosen = [steps[s] for s in named if s in steps] or [s for s in steps.values() if not s.ok]
    parts = []
    for step in chosen:
        label = f"{step.id}, the reference program" if step.id in reference else step.id
        stderr = step.stderr_tail.strip()
        if step.id in reference and stderr:
            stderr = stderr.splitlines()[-1]
        text = ""
        if step.problem:
            text += f"[{label}] {step.problem}\n"
        if step.stdout_tail.strip():
            text += f"[{label} stdout]\n{step.stdout_tail[-TAIL:]}\n"
        if stderr:
            text += f"[{label} stderr]\n{stderr[-TAIL:]}\n"
        parts.append(text)
    return "".join(parts).strip()
