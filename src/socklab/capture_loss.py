"""Capture loss is never the student's fault.

When a capture point reports packets dropped by the kernel, what it recorded is incomplete:
a check that reads it can neither pass nor fail fairly. Such checks become "not graded:
capture incomplete (N packets dropped on server:eth0)", the run is not gradable (exit 2 for
`socklab run` and `socklab verify`), and a grade says so as an infrastructure failure.
Checks of program outputs alone are judged as usual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any


def dropped_by_point(captures: dict[str, dict[str, Any]]) -> dict[str, int]:
    """{point: packets dropped} for the points that lost any (from results.json's `captures`)."""
    return {point: int(info["dropped"]) for point, info in captures.items() if info.get("dropped")}


def captures_read(expectation: Any, points: Iterable[str]) -> set[str]:
    """The capture points an expectation reads (all of them when it names none)."""
    points = list(points)
    if expectation.kind == "output":
        return set()
    named = set(expectation.references()["captures"])
    if not named and getattr(expectation, "only", None) is not None:
        named = {expectation.only.node}
    if not named:
        return set(points)
    found = set()
    for name in named:
        found |= {name} if name in points else {p for p in points if p.split(":")[0] == name}
    return found


def note(dropped: dict[str, int], points: set[str]) -> str:
    parts = [f"{dropped[p]} packet{'s' if dropped[p] != 1 else ''} dropped on {p}" for p in sorted(points)]
    return f"not graded: capture incomplete ({', '.join(parts)})"


def mark_incomplete(expectations: Iterable[Any], results: list[Any], captures: dict[str, dict[str, Any]]) -> list[Any]:
    """The results, where each check that read a lossy capture is replaced by a "not graded" error."""
    dropped = dropped_by_point(captures)
    if not dropped:
        return results
    by_id = {e.id: e for e in expectations}
    marked = []
    for result in results:
        expectation = by_id.get(result.id)
        lossy = captures_read(expectation, captures) & set(dropped) if expectation is not None else set()
        if lossy and result.error is None:
            result = dataclasses.replace(result, passed=False, score=0.0, error=note(dropped, lossy))
        marked.append(result)
    return marked


def is_incomplete(error: str | None) -> bool:
    return bool(error) and error.startswith("not graded: capture incomplete")  # type: ignore[union-attr]
