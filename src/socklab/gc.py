"""Garbage collection: remove what socklab owns that no live lab claims."""

from __future__ import annotations

from dataclasses import dataclass, field

from socklab import state
from socklab.backends import BACKENDS, get_backend
from socklab.backends.base import Backend
from socklab.deployment import destroy
from socklab.errors import SocklabError
from socklab.state import Owned


@dataclass
class GcReport:
    instances: list[str] = field(default_factory=list)  # dead instances removed with their objects
    orphans: list[Owned] = field(default_factory=list)  # owned objects no record claimed
    kept: list[str] = field(default_factory=list)  # live instances left alone


def collect(dry_run: bool = False, everything: bool = False) -> GcReport:
    """Remove dead instances (interrupted `up`s) and orphans. `everything` removes live labs too."""
    report = GcReport()
    found: list[tuple[Backend, list[Owned]]] = []
    # Records and orphans are listed under one hold of the ledger lock: an `up` writes its
    # record under the lock before creating anything, so whatever we see here is either
    # claimed by a record we read or truly nobody's.
    with state.locked():
        records = state.all_records()
        claimed = set().union(*(r.claimed() for r in records if r.live and not everything))
        for name in BACKENDS:
            try:
                backend = get_backend(name)
                found.append((backend, backend.orphans(claimed)))
            except SocklabError:
                continue  # e.g. no Docker engine here: it can own nothing
    for record in records:
        if record.live and not everything:
            report.kept.append(record.instance)
            continue
        report.instances.append(record.instance)
        if not dry_run:
            destroy(record)
    for backend, orphans in found:
        # objects of the dead instances just destroyed are not orphans any more
        orphans = [o for o in orphans if not any(o in r.claimed() for r in records)]
        report.orphans += orphans
        if orphans and not dry_run:  # removed like an instance's objects: a record claiming them
            backend.destroy(state.Record(instance="", lab="?", lab_file=None, backend=backend.name, owned=orphans))
    _collect_cgroups({r.instance for r in records if r.live and not everything}, dry_run, report)
    return report


def _collect_cgroups(live: set[str], dry_run: bool, report: GcReport) -> None:
    """Graders' cgroups (socklab-<instance>) whose instance is gone: a grader killed by SIGKILL."""
    from socklab.sandbox import cgroups

    for path in cgroups.leftovers():
        if path.name[len(cgroups.PREFIX):] in live:
            continue
        report.orphans.append(Owned("cgroup", str(path)))
        if not dry_run:
            cgroups.remove_dir(path)
