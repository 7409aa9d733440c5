"""Opening a submission: a folder, a .zip or a .tar.gz, unpacked safely into a folder.

Archives are unpacked as a stream, counting what is written: more entries than
`unpacked_files` or more bytes than `unpacked_size` stop the unpacking at once (a zip bomb
is refused within a fraction of a second, nothing is written beyond the cap). Absolute paths
and `..` are refused; symbolic and hard links, devices and FIFOs are skipped with a note,
never created, so nothing can point outside the submission's folder.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from socklab.errors import SubmissionError
from socklab.model.grading import Limits

CHUNK = 1 << 16


@dataclass
class Unpacked:
    folder: Path  # the folder holding the submission's files
    notes: list[str] = field(default_factory=list)  # what was skipped, for the student


def submission_name(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def unpack(path: Path, into: Path, limits: Limits | None = None) -> Unpacked:
    """The folder holding the submission's files (descending into a single top-level folder)."""
    limits = limits or Limits()
    if path.is_dir():
        return Unpacked(path)
    if not path.is_file():
        raise SubmissionError(f"submission {path}: no such file or folder")
    into.mkdir(parents=True, exist_ok=True)
    writer = _Writer(path, into, limits)
    name = path.name
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                _unzip(archive, writer)
        elif name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(path, "r:*") as archive:
                _untar(archive, writer)
        else:
            raise SubmissionError(f"submission {path}: expected a folder, a .zip or a .tar.gz")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as err:
        raise SubmissionError(f"submission {path}: cannot unpack ({err})") from None
    entries = [p for p in into.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    folder = entries[0] if len(entries) == 1 and entries[0].is_dir() else into
    return Unpacked(folder, writer.notes)


def _unzip(archive: zipfile.ZipFile, writer: _Writer) -> None:
    infos = archive.infolist()
    writer.count(len(infos))
    writer.declared(sum(i.file_size for i in infos))
    for info in infos:
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            writer.skip(info.filename, "a symbolic link")
        elif info.is_dir():
            writer.folder(info.filename)
        else:
            with archive.open(info) as src:
                writer.file(info.filename, _chunks(src))


def _untar(archive: tarfile.TarFile, writer: _Writer) -> None:
    seen = 0
    for member in archive:  # headers one by one: a huge archive is refused before it is read whole
        seen += 1
        writer.count(seen)
        if member.isdir():
            writer.folder(member.name)
        elif member.issym() or member.islnk():
            writer.skip(member.name, "a symbolic link" if member.issym() else "a hard link")
        elif not member.isreg():
            writer.skip(member.name, "a device or FIFO")
        else:
            writer.declared(writer.written + member.size)
            src = archive.extractfile(member)
            if src is not None:
                with src:
                    writer.file(member.name, _chunks(src))


def _chunks(src: IO[bytes]) -> Iterator[bytes]:
    while chunk := src.read(CHUNK):
        yield chunk


class _Writer:
    """Writes members below `into`, never through a link, counting entries and bytes."""

    def __init__(self, archive: Path, into: Path, limits: Limits):
        self.archive, self.into, self.limits = archive, into, limits
        self.written = 0
        self.notes: list[str] = []

    def count(self, entries: int) -> None:
        if entries > self.limits.unpacked_files:
            raise SubmissionError(f"submission {self.archive}: refused, the archive holds more than "
                             f"{self.limits.unpacked_files} entries (the lab's limit; keep only your programs)")

    def declared(self, size: int) -> None:
        if size > self.limits.unpacked_size:
            self._too_big()

    def _too_big(self) -> None:
        from socklab.grade.sandbox import size_text

        raise SubmissionError(f"submission {self.archive}: refused, it unpacks to more than "
                         f"{size_text(self.limits.unpacked_size)} (the lab's limit; keep only your programs)")

    def _target(self, member: str) -> Path:
        parts = PurePosixPath(member).parts
        if member.startswith("/") or ".." in parts or "\\" in member:
            raise SubmissionError(f"submission {self.archive}: unsafe path {member!r} in the archive")
        return self.into.joinpath(*[p for p in parts if p != "."])

    def skip(self, member: str, what: str) -> None:
        self._target(member)
        self.notes.append(f"{member}: skipped, {what} (archives may hold only files and folders)")

    def folder(self, member: str) -> None:
        self._target(member).mkdir(parents=True, exist_ok=True)

    def file(self, member: str, chunks: Iterator[bytes]) -> None:
        target = self._target(member)
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL|O_NOFOLLOW: a repeated name or anything already there is never written through
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if self.written + len(chunk) > self.limits.unpacked_size:
                    out.close()
                    target.unlink()
                    self._too_big()
                out.write(chunk)
                self.written += len(chunk)
