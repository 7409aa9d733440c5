"""Verification: check a run's captures and program outputs against a lab's expectations.

    from socklab.verify import verify, Expectation, ExpectationResult, VerifyContext
    results = verify(lab.expect, ctx)

Importing this package is cheap (pydantic and the standard library); the pcap reader,
the matcher and scapy load when `verify` is first called.
"""

from __future__ import annotations

from collections.abc import Sequence

from socklab.model.expectations import Expectation, Expectations
from socklab.verify.context import InterfaceInfo, NodeInfo, StepRecord, VerifyContext
from socklab.verify.results import ExpectationResult

__all__ = [
    "Expectation", "Expectations", "ExpectationResult", "InterfaceInfo", "NodeInfo", "StepRecord",
    "VerifyContext", "verify",
]


def verify(expectations: Sequence[Expectation], ctx: VerifyContext) -> list[ExpectationResult]:
    """Check each expectation against the run in ctx; returns one result per expectation, in order.

    Never raises for problems of the run (a missing or unreadable capture, a node, step or
    capture the lab does not have): those results have `error` set and `passed` False.
    """
    from socklab.verify.engine import verify as _verify

    return _verify(expectations, ctx)
