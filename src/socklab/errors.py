"""One exception tree for socklab, one class per kind of failure.

The CLI turns each into a one-line message and an exit code (the table is `socklab.exits.EXIT_CODES`);
the library only raises, and never decides how a process exits.
"""

from __future__ import annotations


class SocklabError(Exception):
    """Base of every error socklab reports to a user."""


class LabFileError(SocklabError):
    """A lab file is missing, unreadable, invalid YAML or fails validation."""

    def __init__(self, path: str, message: str, field: str | None = None, line: int | None = None):
        self.path, self.field, self.line = path, field, line
        where = path + (f":{line}" if line else "")
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


class UsageError(SocklabError):
    """The user asked for something that cannot be done as asked (unknown instance, bad argument)."""


class SubmissionError(UsageError):
    """A submission cannot be used (missing, not a folder or archive, unsafe paths): the student's
    problem, graded as "not graded" with this reason, never an infrastructure failure."""


class InfrastructureError(SocklabError):
    """socklab's environment failed: the kernel refused, a tool is missing, the engine is down."""


class StateError(InfrastructureError):
    """The ledger under /run/socklab is unreadable or locked in a way we cannot resolve."""
