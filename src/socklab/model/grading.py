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
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    """A file the submission must contain, and the scenario steps that run it."""

    steps: list[str] = Field(description="ids of the scenario steps that run this file (they run sandboxed)")
    checks: list[str] | None = Field(
        default=None, description="expectations that score 0 when the file is missing (default: all that "
        "name its steps, or every capture check when its steps produce traffic)")
    required: bool = True


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


class GradingSpec(_Strict):
    files: dict[str, FileSpec]
    points: dict[str, float] = Field(default_factory=dict, description="override expectation points")
    visibility: dict[str, Visibility] = Field(default_factory=dict)
    default_visibility: Visibility = "visible"
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _names(self) -> GradingSpec:
        for name in self.files:
            if "/" in name or name.startswith("."):
                raise ValueError(f"files: {name!r} must be a plain file name")
        return self
