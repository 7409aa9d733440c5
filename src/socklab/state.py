"""The ledger: what each lab instance owns, on disk under /run/socklab, with a lock.

An instance's record is written before any of its objects exist, so `down` and `gc`
can remove them after a crash, Ctrl-C or SIGKILL at any point of `up`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from socklab.errors import StateError, UsageError

STATE_DIR = Path(os.environ.get("SOCKLAB_STATE_DIR", "/run/socklab"))


OwnedKind = Literal["netns", "file", "container", "cgroup"]


@dataclass(frozen=True, order=True)
class Owned:
    """One object socklab owns: a named network namespace, a file or folder to delete, a container, a cgroup."""

    kind: OwnedKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass
class Record:
    instance: str
    lab: str
    lab_file: str | None
    backend: str
    state: str = "creating"  # creating -> up -> removing
    owner_pid: int = 0
    owner_start: str = ""
    created: float = 0.0
    owned: list[Owned] = field(default_factory=list)  # claimed before any of it is created
    pids: list[int] = field(default_factory=list)  # processes started by socklab in the lab
    persistent: bool = True  # `socklab up`: outlives its creator. run/grade labs die with it

    def claimed(self) -> set[Owned]:
        return set(self.owned)

    def names(self, kind: OwnedKind) -> list[str]:
        """The names of the owned objects of one kind, in claim order."""
        return [o.name for o in self.owned if o.kind == kind]

    @property
    def owner_alive(self) -> bool:
        return self.owner_pid > 0 and process_start(self.owner_pid) == self.owner_start

    @property
    def live(self) -> bool:
        """Not for gc to touch: a lab that is up (a run's lab only while its process lives),
        or one still being built by a living process."""
        if self.state == "up":
            return self.persistent or self.owner_alive
        return self.state == "creating" and self.owner_alive


def process_start(pid: int) -> str:
    """A process's start time in ticks: with the pid, identifies it despite pid reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def instance_dir(instance: str) -> Path:
    return STATE_DIR / "instances" / instance


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialise changes to the ledger across processes."""
    try:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(STATE_DIR / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise StateError(f"cannot use the ledger in {STATE_DIR}: {err.strerror} (socklab needs root)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _record_path(instance: str) -> Path:
    return instance_dir(instance) / "record.json"


def save(record: Record) -> None:
    path = _record_path(record.instance)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # By hand and without indent: asdict() deep-copies every Owned, and an indent makes json
    # fall back to its Python encoder: 0.1 s per save of a 1000-node record, two per `up`.
    data = {f.name: getattr(record, f.name) for f in fields(record)}
    data["owned"] = [{"kind": o.kind, "name": o.name} for o in record.owned]
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def load(instance: str) -> Record | None:
    path = _record_path(instance)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise StateError(f"unreadable ledger record {path}: {err}") from None
    try:
        data["owned"] = [Owned(kind=o["kind"], name=o["name"]) for o in data.get("owned", [])]
        for key, kind in (("netns", "netns"), ("files", "file"), ("containers", "container")):  # records of before
            data["owned"] += [Owned(kind, name) for name in data.pop(key, [])]
        data.pop("networks", None)
        return Record(**data)
    except (TypeError, KeyError) as err:
        raise StateError(f"unreadable ledger record {path}: {err}") from None


def all_records() -> list[Record]:
    base = STATE_DIR / "instances"
    if not base.is_dir():
        return []
    records = []
    for entry in sorted(base.iterdir()):
        try:
            record = load(entry.name)
        except StateError:
            record = Record(instance=entry.name, lab="?", lab_file=None, backend="netns", state="broken")
        if record:
            records.append(record)
        else:  # a folder without record: an up that died before writing one
            records.append(Record(instance=entry.name, lab="?", lab_file=None, backend="netns", state="broken"))
    return records


def claim_instance(record: Record) -> None:
    """Write a new record, failing if the instance name is taken. Call under locked()."""
    existing = load(record.instance)
    if existing is not None:
        how = "is up" if existing.state == "up" else f"is {existing.state}"
        raise UsageError(
            f"instance {record.instance!r} {how} already; bring it down with "
            f"`socklab down {record.instance}` or pick another with --name"
        )
    record.owner_pid = os.getpid()
    record.owner_start = process_start(os.getpid())
    record.created = time.time()
    save(record)


def forget(instance: str) -> None:
    folder = instance_dir(instance)
    for name in ("record.json", "record.tmp"):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    _rmtree(folder)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
