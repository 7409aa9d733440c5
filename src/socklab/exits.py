"""What socklab's exit codes mean, and which error or outcome gets which (README: "Exit codes").

The library raises and returns results; these functions say how a process ends for them,
so that every command (and the CLI's one error handler, `cli._Group.invoke`) agrees.
Standard library only: the help cache and `socklab --help` must not pay for more.
"""

from __future__ import annotations

from enum import IntEnum

from socklab.errors import InfrastructureError, SocklabError


class Exit(IntEnum):
    """What socklab's exit code means, for every command (README: "Exit codes")."""

    OK = 0  # done; for run/verify: every step and expectation met; for grade: grading completed
    FAILED = 1  # run/verify: a step or an expectation was not met
    BAD_INPUT = 2  # a lab file, an argument, a submission (also click's own usage errors)
    NOT_GRADABLE = 2  # run: the evidence is incomplete (a capture lost packets): nothing to judge
    INFRASTRUCTURE = 3  # the kernel refused, a tool is missing, the engine is down
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: labs came down, results were written


EXIT_CODES: tuple[tuple[type[SocklabError], Exit], ...] = (
    (InfrastructureError, Exit.INFRASTRUCTURE),
    (SocklabError, Exit.BAD_INPUT),  # LabFileError, UsageError, SubmissionError
)
"""Error class -> exit code, first match wins (so subclasses come before their bases)."""


def exit_code(error: BaseException | None) -> Exit:
    if error is None:
        return Exit.OK
    if isinstance(error, KeyboardInterrupt):
        return Exit.INTERRUPTED
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), Exit.INFRASTRUCTURE)


def verdict_code(result) -> Exit:
    """A verified run's code (run, verify): every check met, one not, or not gradable (evidence lost)."""
    return Exit.OK if result.ok else Exit.NOT_GRADABLE if result.incomplete else Exit.FAILED


def run_code(results: list) -> Exit:
    """`socklab run`'s code for one or more labs: the worst of them (a failed run: its error's code)."""
    return max(exit_code(r.failure) if r.failure else verdict_code(r) for r in results)


def selftest_code(report) -> Exit:
    return Exit.OK if report.ok else Exit.FAILED


def grade_code(report, written) -> Exit:
    """`socklab grade`'s code once results are written: 0 whatever the scores, 3 when the infrastructure
    failed a submission, unless the format's consumer reads results only after exit 0 (PrairieLearn)."""
    return Exit.INFRASTRUCTURE if report.infrastructure_failures and not written.exit_zero else Exit.OK


def grade_stop(report, written) -> BaseException | None:
    """What stopped a batch and must still end the process with its error (None: finish normally; a
    format that needs exit 0 swallows an Exception, never a KeyboardInterrupt)."""
    stopped = report.stopped_by
    if stopped is not None and not (written.exit_zero and isinstance(stopped, Exception)):
        return stopped
    return None
