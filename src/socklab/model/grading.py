"""The `grading:` section of a lab file."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


def parse_size(value: Any) -> int:
    """Sizes as bytes or strings: "256M", "1G", "64k", "512MiB"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(i?[bB])?\s*", str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size (write e.g. 256M, 1G, 65536)")
    factor = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
    return int(float(match.group(1)) * factor)


Size = Annotated[int, BeforeValidator(parse_size)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # see values.Model


class FileSpec(_Strict):
    """A file the submission must contain, and the scenario steps that run it."""

    steps: list[str] = Field(description="ids of the scenario steps that run this file (they run sandboxed)")
    checks: list[str] | None = Field(
        default=None, description="expectations that score 0 when the file is missing (default: all that "
        "name its steps, or every capture check when its steps produce traffic)")
    required: bool = True
    role: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_-]*$",
        description="the side of the exchange this file plays, named in pairings (default: the file's "
        "name without its extension: server.py plays server)")

    def role_of(self, filename: str) -> str:
        return self.role or filename.rsplit(".", 1)[0].replace("_", "-").lower()


class Limits(_Strict):
    """Per graded submission. Memory is resident memory of the submission's cgroup (address
    space, RLIMIT_AS, only where no cgroup can be made); no core dumps ever."""

    memory: Size = Field(default=1 << 30, description="resident memory of the submission's programs together")
    processes: int = Field(default=64, ge=1)
    cpu: float = Field(default=10.0, gt=0, description="CPU seconds per process")
    file_size: Size = 16 << 20
    open_files: int = Field(default=256, ge=16)
    unpacked_size: Size = Field(default=32 << 20, description="an archive may unpack to at most this many bytes")
    unpacked_files: int = Field(default=1000, ge=1, description="an archive may hold at most this many entries")


Side = Literal["student", "reference"]


class Pairing(BaseModel):
    """One run of a cross-test: which program plays each role, the student's or the reference's.

    Written as `{client: student, server: reference, points: 4}`: every role of grading.files
    maps to `student` or `reference`; the run's checks are attributed to the student's side.
    """

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True,
                              json_schema_extra={"additionalProperties": {"enum": ["student", "reference"]}})

    id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]*$",
                           description="names this pairing's tests (default: the roles under test, e.g. client)")
    points: float | None = Field(default=None, ge=0, description="what the pairing is worth in total: its "
                                 "checks' points are scaled to add up to it (default: the checks' own points)")
    checks: list[str] | None = Field(default=None, description="the expectations this pairing grades (default: "
                                     "those that involve a side under test)")

    @model_validator(mode="after")
    def _sides(self) -> Pairing:
        for role, side in (self.model_extra or {}).items():
            if side not in ("student", "reference"):
                raise ValueError(f"{role}: {side!r} is neither student nor reference")
        if "student" not in (self.model_extra or {}).values():
            raise ValueError("a pairing needs at least one role played by the student")
        return self

    @property
    def sides(self) -> dict[str, Side]:
        """role -> student | reference"""
        return dict(self.model_extra or {})


class GradingSpec(_Strict):
    files: dict[str, FileSpec]
    pairings: list[Pairing] = Field(default_factory=list, max_length=4, description="cross-testing: each pairing is its own "
                                    "run, e.g. [{client: student, server: reference}, {client: reference, "
                                    "server: student}, {client: student, server: student}]")
    reference: str = Field(default="solution", description="the lab's folder holding the reference programs "
                           "that pairings run (never shown to student programs)")
    points: dict[str, float] = Field(default_factory=dict, description="override expectation points")
    visibility: dict[str, Visibility] = Field(default_factory=dict)
    default_visibility: Visibility = "visible"
    limits: Limits = Field(default_factory=Limits,  # not an instance made at import (defer_build)
                           json_schema_extra=lambda schema: schema.update(default=Limits().model_dump()))

    @model_validator(mode="after")
    def _names(self) -> GradingSpec:
        for name in self.files:
            if "/" in name or name.startswith("."):
                raise ValueError(f"files: {name!r} must be a plain file name")
        roles = self.roles()
        ids = set()
        for index, pairing in enumerate(self.pairings):
            sides = pairing.sides
            if set(sides) != set(roles):
                unknown, absent = sorted(set(sides) - set(roles)), sorted(set(roles) - set(sides))
                raise ValueError(f"pairings[{index}]: " + "; ".join(
                    ([f"unknown role {', '.join(unknown)}"] if unknown else [])
                    + ([f"say who plays {', '.join(absent)}"] if absent else [])) + f" (roles: {', '.join(roles)})")
            pid = pairing_id(pairing, list(roles))
            if pid in ids:
                raise ValueError(f"pairings[{index}]: id {pid!r} is used twice; give the pairing an id")
            ids.add(pid)
        return self

    def roles(self) -> dict[str, list[str]]:
        """role -> the files that play it, in file order."""
        roles: dict[str, list[str]] = {}
        for name, file_spec in self.files.items():
            roles.setdefault(file_spec.role_of(name), []).append(name)
        return roles


def pairing_id(pairing: Pairing, roles: list[str]) -> str:
    """The pairing's id, or the roles the student plays (client, server; `together` when all of them)."""
    if pairing.id:
        return pairing.id
    mine = [r for r in roles if pairing.sides.get(r) == "student"]
    return "together" if len(mine) == len(roles) > 1 else "+".join(mine)
