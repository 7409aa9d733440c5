"""`socklab selftest`: the lab's reference solution gets full marks, and each mutant (a typical
mistake) loses exactly the checks its expect.yaml says, with the feedback it promises.

A mutant is labs/<lab>/mutants/<name>/: the files that differ from the solution, and an
expect.yaml:

    description: The client sends to port 12346
    remove: [server.py]              # optional: files the mutant deletes from the solution
    checks:                          # test id (or glob) -> pass | fail | skipped; unlisted: pass
      "client:*": fail
      together:hello: {verdict: fail, feedback: destination port 12346}
    pending: why this mutant is not held to its expectations yet (shown, never fails)
"""

from __future__ import annotations

import fnmatch
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from socklab.errors import LabFileError
from socklab.grade.score import Grade
from socklab.model.lab import Lab

Verdict = Literal["pass", "fail", "skipped"]
SOLUTION = "solution"


class CheckExpectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    feedback: str | None = Field(default=None, description="a phrase the test's feedback must contain")


class MutantSpec(BaseModel):
    """A mutant's expect.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    remove: list[str] = []
    checks: dict[str, CheckExpectation] = {}
    pending: str | None = None

    @field_validator("checks", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"verdict": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def expected(self, test_id: str) -> CheckExpectation:
        """Exact id first, then the first glob that matches, else pass."""
        if test_id in self.checks:
            return self.checks[test_id]
        for pattern, expectation in self.checks.items():
            if fnmatch.fnmatchcase(test_id, pattern):
                return expectation
        return CheckExpectation(verdict="pass")


@dataclass
class Cell:
    check: str
    expected: Verdict
    actual: Verdict
    feedback_wanted: str | None = None
    feedback_found: bool = True

    @property
    def ok(self) -> bool:
        return self.expected == self.actual and self.feedback_found


@dataclass
class MutantOutcome:
    lab: str
    name: str  # "solution" for the reference solution
    description: str
    cells: list[Cell] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # not gradable, unknown check ids, no full marks
    pending: str | None = None
    score: float = 0.0
    max_score: float = 0.0
    duration: float = 0.0

    @property
    def matches(self) -> bool:
        return not self.problems and all(c.ok for c in self.cells)

    @property
    def ok(self) -> bool:
        return self.matches or self.pending is not None


@dataclass
class SelftestReport:
    labs: list[str]
    outcomes: list[MutantOutcome]
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "labs": self.labs, "ok": self.ok, "duration": round(self.duration, 3),
            "outcomes": [{**asdict(o), "ok": o.ok, "matches": o.matches,
                          "cells": [{**asdict(c), "ok": c.ok} for c in o.cells]} for o in self.outcomes],
        }


def load_mutants(lab: Lab) -> dict[str, MutantSpec]:
    """The lab's mutants by name, each expect.yaml validated (a LabFileError names the file)."""
    import yaml

    root = (lab.folder or Path(".")) / "mutants"
    mutants = {}
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        path = folder / "expect.yaml"
        try:
            mutants[folder.name] = MutantSpec.model_validate(yaml.safe_load(path.read_text()) or {})
        except FileNotFoundError:
            raise LabFileError(str(path), "a mutant needs an expect.yaml (description, checks)") from None
        except yaml.YAMLError as err:
            raise LabFileError(str(path), f"invalid YAML: {err}") from None
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(x) for x in first["loc"])
            raise LabFileError(str(path), first["msg"], field=field) from None
    return mutants


def build_submission(lab: Lab, name: str, spec: MutantSpec | None, into: Path) -> Path:
    """The solution's files with the mutant's on top (and its `remove:` files gone)."""
    folder = into / lab.name / name
    reference = (lab.folder or Path(".")) / lab.reference
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns("__pycache__"))
    if spec is not None:
        source = (lab.folder or Path(".")) / "mutants" / name
        shutil.copytree(source, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expect.yaml", "__pycache__"))
        for removed in spec.remove:
            (folder / removed).unlink(missing_ok=True)
    return folder


def compare(lab: Lab, name: str, spec: MutantSpec | None, grade: Grade) -> MutantOutcome:
    """One row of the matrix: each test's verdict against what the mutant's expect.yaml says."""
    outcome = MutantOutcome(lab=lab.name, name=name, description=spec.description if spec else "reference solution",
                            pending=spec.pending if spec else None, score=grade.score, max_score=grade.max_score,
                            duration=grade.duration)
    if not grade.gradable:
        outcome.problems.append(f"not graded: {grade.error}")
        return outcome
    wanted = spec or MutantSpec(description="reference solution")
    for test in grade.tests:
        expected = wanted.expected(test.id)
        actual: Verdict = "skipped" if test.skipped else "pass" if test.passed else "fail"
        found = True
        if expected.feedback:
            found = expected.feedback.lower() in (test.feedback + "\n" + test.output).lower()
        outcome.cells.append(Cell(check=test.id, expected=expected.verdict, actual=actual,
                                  feedback_wanted=expected.feedback, feedback_found=found))
    ids = [t.id for t in grade.tests]
    for pattern in wanted.checks:
        if not any(fnmatch.fnmatchcase(i, pattern) for i in ids):
            outcome.problems.append(f"expect.yaml names {pattern!r}, which matches no test ({', '.join(ids)})")
    if spec is None and grade.score != grade.max_score:
        outcome.problems.append(f"the reference solution scores {grade.score:g}/{grade.max_score:g}, not full marks")
    return outcome


def selftest(labs: list[Lab], jobs: int, runs_dir: Path | None = None, backend: str | None = None,
             on_done: Callable[[MutantOutcome], None] | None = None) -> SelftestReport:
    """Grade each lab's solution and mutants (all labs in one pool, `jobs` at a time) and compare."""
    from socklab.grade.batch import grade_jobs

    started = time.perf_counter()
    plan: list[tuple[Lab, str, MutantSpec | None]] = []
    for lab in labs:
        plan += [(lab, SOLUTION, None)] + [(lab, n, s) for n, s in load_mutants(lab).items()]
    entries = {(lab.name, name): (lab, name, spec) for lab, name, spec in plan}

    def done(grade: Grade) -> None:
        if on_done:
            on_done(compare(*entries[(grade.lab, grade.submission)], grade))

    with tempfile.TemporaryDirectory(prefix="socklab-selftest-") as tmp:
        work = [(lab, build_submission(lab, name, spec, Path(tmp) / "subs")) for lab, name, spec in plan]
        grades = grade_jobs(work, jobs, runs_dir or Path(tmp) / "runs", backend, on_done=done)
    outcomes = [compare(lab, name, spec, grade) for (lab, name, spec), grade in zip(plan, grades, strict=True)]
    return SelftestReport(labs=[lab.name for lab in labs], outcomes=outcomes, duration=time.perf_counter() - started)
