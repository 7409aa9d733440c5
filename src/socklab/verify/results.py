"""What checking one expectation produced (plain data, stdlib only, JSON-ready)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation.

    passed/score: score is `points` when passed, else 0. message: one line, what was expected
    and what was wrong. evidence: one line per relevant packet ("server-eth0.pcap #7 +0.512s:
    UDP ...") or step. diff: a multi-line field-by-field comparison with the nearest packet,
    when failing. error: set when the check could not run (missing capture, unknown node...):
    not the student's fault, passed is False and the grader may treat it apart. skipped: not
    checked because an expectation it `needs` did not pass (message says which), worth 0.
    """

    id: str
    title: str
    points: float
    passed: bool
    score: float
    message: str
    evidence: list[str] = field(default_factory=list)
    diff: str | None = None
    error: str | None = None
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
