"""Garbage collection: remove what socklab owns that no live lab claims."""

from __future__ import annotations

from dataclasses import dataclass, field

from socklab import state
from socklab.backends import BACKENDS, get_backend
from socklab.deployment import destroy
from socklab.errors import SocklabError


@dataclass
class GcReport:
    instances: list[str] = field(default_factory=list)  # dead instances removed with their objects
    orphans: list[str] = field(default_factory=list)  # owned objects no record claimed
    kept: list[str] = field(default_factory=list)  # live instances left alone


def collect(dry_run: bool = False, everything: bool = False) -> GcReport:
    """Remove dead instances (interrupted `up`s) and orphans. `everything` removes live labs too."""
    report = GcReport()
    with state.locked():
        records = state.all_records()
    claimed: set[str] = set()
    for record in records:
        if record.live and not everything:
            report.kept.append(record.instance)
            claimed |= record.claimed()
            continue
        report.instances.append(record.instance)
        if not dry_run:
            destroy(record)
    for name in BACKENDS:
        try:
            backend = get_backend(name)
            found = backend.orphans(claimed)
        except SocklabError:
            continue  # e.g. no Docker engine here: it can own nothing
        report.orphans += found
        if found and not dry_run:
            backend.remove_orphans(found)
    return report
