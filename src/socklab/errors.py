"""One exception tree for socklab: the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations


class SocklabError(Exception):
    """Base of every error socklab reports to a user. `exit_code` is what the CLI exits with."""

    exit_code: int = 2


class LabFileError(SocklabError):
    """A lab file is missing, unreadable, invalid YAML or fails validation."""

    def __init__(self, path: str, message: str, field: str | None = None, line: int | None = None):
        self.path, self.field, self.line = path, field, line
        where = path + (f":{line}" if line else "")
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


class UsageError(SocklabError):
    """The user asked for something that cannot be done as asked (unknown instance, bad argument)."""


class InfrastructureError(SocklabError):
    """socklab's environment failed: the kernel refused, a tool is missing, the engine is down."""

    exit_code = 3


class StateError(InfrastructureError):
    """The ledger under /run/socklab is unreadable or locked in a way we cannot resolve."""
