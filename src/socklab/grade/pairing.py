"""Cross-testing: which program plays each role in a run, which checks that run grades, and
where the reference programs live while they run.

A pairing such as `{client: student, server: reference}` is one run in its own instance:
the student's client against the lab's reference server. Its checks are attributed to the
side under test (the student's roles), so a broken server no longer costs the client's points.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from socklab.errors import SocklabError
from socklab.model.grading import GradingSpec, Pairing, pairing_id
from socklab.model.lab import Lab


@dataclass(frozen=True)
class PairingPlan:
    """A pairing resolved against its lab: files, steps and checks of each side."""

    id: str  # "" for the plain run (no pairings declared): test ids stay the expectation ids
    sides: dict[str, str]  # role -> student | reference
    student_files: tuple[str, ...]
    reference_files: tuple[str, ...]
    student_steps: frozenset[str]
    reference_steps: frozenset[str]
    checks: tuple[str, ...]  # the expectations this pairing grades, in lab order
    scale: float = 1.0  # points of each check are multiplied by this

    @property
    def under_test(self) -> list[str]:
        return [r for r, side in self.sides.items() if side == "student"]

    @property
    def mixed(self) -> bool:
        return "reference" in self.sides.values()

    def test_id(self, check: str) -> str:
        return f"{self.id}:{check}" if self.id else check

    def words(self) -> str:
        """Who meets whom, in plain words: "your client with the reference server"."""
        mine, theirs = self._sides_in_words()
        return f"{mine} with {theirs}" if theirs else f"{mine} together"

    def verdict(self, failed: list[str]) -> str:
        """One sentence for the student: does their side work with the other one?"""
        mine, theirs = self._sides_in_words()
        if failed:
            what = f" (failed: {', '.join(failed)})"
            return f"{mine} did not work with {theirs}{what}" if theirs else f"{mine} did not work together{what}"
        if theirs:
            return f"{mine} {'work' if len(self.under_test) > 1 else 'works'} with {theirs}"
        return f"{mine} work together" if len(self.under_test) > 1 else f"{mine} works"

    def _sides_in_words(self) -> tuple[str, str]:
        others = [r for r, side in self.sides.items() if side == "reference"]
        return f"your {_and(self.under_test)}", f"the reference {_and(others)}" if others else ""


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def plan_pairings(lab: Lab, spec: GradingSpec) -> list[PairingPlan]:
    """The runs a submission gets: one per pairing, or one plain run when the lab declares none."""
    roles = spec.roles()
    if not spec.pairings:
        files = tuple(spec.files)
        steps = frozenset(s for f in spec.files.values() for s in f.steps)
        return [PairingPlan(id="", sides=dict.fromkeys(roles, "student"), student_files=files, reference_files=(),
                            student_steps=steps, reference_steps=frozenset(), checks=tuple(e.id for e in lab.expect))]
    return [_plan(lab, spec, p, roles) for p in spec.pairings]


def _plan(lab: Lab, spec: GradingSpec, pairing: Pairing, roles: dict[str, list[str]]) -> PairingPlan:
    sides = {role: pairing.sides[role] for role in roles}
    files = {side: tuple(f for r in roles if sides[r] == side for f in roles[r]) for side in ("student", "reference")}
    steps = {side: frozenset(s for f in files[side] for s in spec.files[f].steps) for side in files}
    if pairing.checks is not None:
        checks = tuple(e.id for e in lab.expect if e.id in pairing.checks)
    else:
        involved = involvement(lab, spec)
        mine = {r for r in roles if sides[r] == "student"}
        checks = tuple(e.id for e in lab.expect if involved[e.id] & mine)
    scale = 1.0
    if pairing.points is not None:
        total = sum(spec.points.get(e.id, e.points) for e in lab.expect if e.id in checks)
        scale = pairing.points / total if total else 0.0
    return PairingPlan(id=pairing_id(pairing, list(roles)), sides=sides, student_files=files["student"],
                       reference_files=files["reference"], student_steps=steps["student"],
                       reference_steps=steps["reference"], checks=checks, scale=scale)


def involvement(lab: Lab, spec: GradingSpec) -> dict[str, set[str]]:
    """expectation id -> the roles it involves: those whose steps it names, or whose steps run on
    a node it names. A check naming none of them (a frame matched by MAC only) involves all."""
    roles = spec.roles()
    role_steps = {r: {s for f in files for s in spec.files[f].steps} for r, files in roles.items()}
    step_nodes = {(s.id or f"step{i + 1}"): s.node for i, s in enumerate(lab.scenario)}
    role_nodes = {r: {step_nodes[s] for s in steps if s in step_nodes} for r, steps in role_steps.items()}
    found = {}
    for expectation in lab.expect:
        refs = expectation.references()
        named = {r for r in roles if refs["steps"] & role_steps[r] or refs["nodes"] & role_nodes[r]}
        found[expectation.id] = named or set(roles)
    return found


@dataclass(frozen=True)
class ReferencePrograms:
    """The lab's reference programs for one run (socklab.steps.LabPrograms)."""

    source: Path
    files: tuple[str, ...]
    steps: frozenset[str]

    def place(self, workspace: Path) -> Path:
        return place_reference(self.source, self.files, workspace)


def reference_programs(lab: Lab, spec: GradingSpec, plan: PairingPlan) -> ReferencePrograms | None:
    if not plan.reference_files:
        return None
    source = (lab.folder or Path(".")) / spec.reference
    absent = [f for f in plan.reference_files if not (source / f).is_file()]
    if absent:
        raise SocklabError(f"lab {lab.name}: pairing {plan.id} needs the reference {', '.join(absent)} in {source}")
    return ReferencePrograms(source=source, files=plan.reference_files, steps=plan.reference_steps)


def reference_folder(workspace: Path) -> Path:
    """Where reference programs go while they run: the one place that decides it.

    A folder beside the student's workspace (so a docker node, which sees the workspace's
    parent, sees it too), owned by root with mode 0700: student programs, which run under
    their own uid in a private view of their workspace only, can neither see nor read it;
    the reference steps run in a view of this folder instead of the workspace
    (grade/sandbox.py). The runner starts them in it and removes it after the run.
    """
    return workspace.parent / f"{workspace.name}.reference"


def place_reference(source: Path, files: tuple[str, ...], workspace: Path) -> Path:
    """Copy the reference programs into reference_folder(workspace)."""
    folder = reference_folder(workspace)
    folder.mkdir(mode=0o700)
    os.chown(folder, 0, 0)
    os.chmod(folder, 0o700)
    for name in files:
        shutil.copyfile(source / name, folder / name)
        os.chmod(folder / name, 0o600)
    return folder
