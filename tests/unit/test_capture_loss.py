"""Which checks a lossy capture takes out of grading (pure: no root, no capture)."""

from __future__ import annotations

from socklab.capture_loss import captures_read, mark_incomplete
from socklab.model.loader import load_lab
from socklab.verify.results import ExpectationResult


def _results(lab) -> list[ExpectationResult]:
    return [ExpectationResult(id=e.id, title=e.title, points=1, passed=True, score=1, message="ok")
            for e in lab.expect]


def test_only_checks_that_read_the_lossy_capture_are_not_graded():
    lab = load_lab("routed")  # captures on client:eth0 and server:eth0
    points = [str(c) for c in lab.captures]
    assert len(points) >= 2
    by_id = {e.id: e for e in lab.expect}
    assert all(not captures_read(e, points) for e in lab.expect if e.kind == "output")
    captures = {p: {"file": "x", "dropped": 0} for p in points}
    assert mark_incomplete(lab.expect, _results(lab), captures) == _results(lab)
    lossy = points[0]
    captures[lossy]["dropped"] = 3
    marked = {r.id: r for r in mark_incomplete(lab.expect, _results(lab), captures)}
    for check_id, result in marked.items():
        reads = lossy in captures_read(by_id[check_id], points)
        assert (result.error == f"not graded: capture incomplete (3 packets dropped on {lossy})") == reads
        assert result.passed != reads
    assert any(r.error for r in marked.values()) and any(r.error is None for r in marked.values())
