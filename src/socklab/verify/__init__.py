"""Verification: check a run's captures and program outputs against a lab's expectations.

    from socklab.verify import verify, Expectation, ExpectationResult, VerifyContext
    results = verify(lab.expect, ctx)

`verify` reads the plain twins a Lab holds (model/plain.py) or the pydantic models that
validate them. Importing this package is cheap (the standard library): Expectation and
Expectations, the pydantic models to build expectations from dicts, import pydantic when
first named; the pcap reader, the matcher and scapy load when `verify` is first called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from socklab.model import plain
from socklab.verify.context import InterfaceInfo, NodeInfo, StepRecord, VerifyContext
from socklab.verify.results import ExpectationResult

__all__ = [
    "Expectation", "Expectations", "ExpectationResult", "InterfaceInfo", "NodeInfo", "StepRecord",
    "VerifyContext", "verify",
]


if TYPE_CHECKING:
    from socklab.model.expectations import Expectation, Expectations


def __getattr__(name: str) -> Any:
    if name in ("Expectation", "Expectations"):
        from socklab.model import expectations

        return getattr(expectations, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def verify(expectations: Sequence[plain.Expectation], ctx: VerifyContext) -> list[ExpectationResult]:
    """Check each expectation against the run in ctx; returns one result per expectation, in order.

    Never raises for problems of the run (a missing or unreadable capture, a node, step or
    capture the lab does not have): those results have `error` set and `passed` False.
    """
    from socklab.verify.engine import verify as _verify

    return _verify(expectations, ctx)
