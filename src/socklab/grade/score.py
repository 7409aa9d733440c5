"""From a run's results to a grade: points per test, feedback that teaches, and the verdict.

An infrastructure failure is "not graded" with its reason, never the student's zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from socklab.capture_loss import is_incomplete
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
    grade = Grade(submission=submission, lab=lab.name, missing=missing, run_folder=str(run.folder),
                  duration=run.timings.get("total", 0.0), timings=run.timings, sandbox=run.sandbox or {})
    if run.error:
        grade.gradable, grade.error, grade.failure = False, f"the lab could not run: {run.error}", "infrastructure"
        return grade
    skipped: dict[str, str] = {}
    for filename in missing:
        for check in dependent_checks(lab, spec, filename):
            skipped.setdefault(check, filename)
    steps = {s.id: s for s in run.steps}
    results = {r.id: r for r in run.expectations}
    for expectation in lab.expect:
        result = results.get(expectation.id)
        max_score = spec.points.get(expectation.id, expectation.points)
        visibility = spec.visibility.get(expectation.id, spec.default_visibility)
        if expectation.id in skipped:
            grade.tests.append(CheckGrade(
                id=expectation.id, title=expectation.title, score=0.0, max_score=max_score, passed=False,
                visibility=visibility, feedback=f"not checked: the submission has no {skipped[expectation.id]}",
                skipped=True))
            continue
        if result is not None and is_incomplete(result.error):  # the capture's fault, never the student's
            grade.tests.append(CheckGrade(
                id=expectation.id, title=expectation.title, score=0.0, max_score=max_score, passed=False,
                visibility=visibility, feedback=result.error or ""))
            grade.gradable, grade.failure = False, "infrastructure"
            grade.error = grade.error or f"infrastructure: {result.error}"
            continue
        if result is None or result.error:
            grade.gradable, grade.failure = False, "infrastructure"
            grade.error = f"check {expectation.id} could not run: {result.error if result else 'no result'}"
            continue
        output = _related_output(expectation, steps)
        feedback = "passed" if result.passed else "\n".join(x for x in (result.message, result.diff) if x)
        grade.tests.append(CheckGrade(
            id=expectation.id, title=expectation.title, score=max_score if result.passed else 0.0,
            max_score=max_score, passed=result.passed, visibility=visibility, feedback=feedback,
            output="" if result.passed or result.skipped else output, skipped=result.skipped))
    problems = [f"step {s.id}: {s.problem}" for s in run.steps if not s.ok]
    grade.summary = "\n".join(
        [f"missing file: {m}" for m in missing] + problems
    )
    return grade


def _related_output(expectation, steps: dict) -> str:
    """The tail of stdout/stderr of the steps an expectation names (or of every failed step)."""
    named = expectation.references()["steps"]
    chosen = [steps[s] for s in named if s in steps] or [s for s in steps.values() if not s.ok]
    parts = []
    for step in chosen:
        text = ""
        if step.problem:
            text += f"[{step.id}] {step.problem}\n"
        if step.stdout_tail.strip():
            text += f"[{step.id} stdout]\n{step.stdout_tail[-TAIL:]}\n"
        if step.stderr_tail.strip():
            text += f"[{step.id} stderr]\n{step.stderr_tail[-TAIL:]}\n"
        parts.append(text)
    return "".join(parts).strip()
