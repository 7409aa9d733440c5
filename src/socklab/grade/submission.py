"""Opening a submission: a folder, a .zip or a .tar.gz, unpacked safely into a folder."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from socklab.errors import SubmissionError


def submission_name(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def unpack(path: Path, into: Path) -> Path:
    """The folder holding the submission's files (descending into a single top-level folder)."""
    if path.is_dir():
        return path
    if not path.is_file():
        raise SubmissionError(f"submission {path}: no such file or folder")
    into.mkdir(parents=True, exist_ok=True)
    name = path.name
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    _check_member(path, member)
                archive.extractall(into)
        elif name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(path) as archive:
                archive.extractall(into, filter="data")
        else:
            raise SubmissionError(f"submission {path}: expected a folder, a .zip or a .tar.gz")
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as err:
        raise SubmissionError(f"submission {path}: cannot unpack ({err})") from None
    entries = [p for p in into.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return into


def _check_member(archive: Path, member: str) -> None:
    parts = PurePosixPath(member).parts
    if member.startswith("/") or ".." in parts:
        raise SubmissionError(f"submission {archive}: unsafe path {member!r} in the archive")


def copy_files(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
