"""Validated labs kept between commands: the same lab file, read by the same code, loads once.

Why: a `socklab run` spends more time importing than running. Validating a lab file needs
PyYAML and the schema of every pydantic model built (40–60 ms of a ~0.4 s run here);
unpickling the resolved Lab needs neither, because the models defer building their
schemas until something validates with them (`defer_build`), and it needs no pydantic at
all unless the Lab's grading or spec is used (Lab.__getstate__; a run, its verification and
report read only plain values: model/plain.py). Validation is a pure function
of the file's text, its path (the lab's files are found beside it) and the code that reads
it, so a Lab kept under that key is the Lab a new validation would give.

The key: the text, the resolved path, every socklab source file's size and mtime, the
interpreter, and pydantic's and pydantic-core's installed files (a pip upgrade rewrites
them). The entries live in socklab's own __pycache__, beside the bytecode and the help
cache (entry.py): whoever may write there may already change socklab's code, so a pickle
read from there trusts no one new. A read-only install simply validates every time.
`SOCKLAB_NO_LAB_CACHE=1` turns the cache off (benchmarks of validation itself).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import sys
import threading
from pathlib import Path
from typing import Any

MAX_TEXT = 256 << 10  # bigger lab files are validated each time: their pickles would be large
MAX_ENTRIES = 128  # the newest are kept; one run of the test suite writes a few dozen
_PACKAGE = Path(__file__).resolve().parents[1]
_DIR = _PACKAGE / "__pycache__" / "labs"


def enabled() -> bool:
    return not os.environ.get("SOCKLAB_NO_LAB_CACHE")


def key(text: bytes, path: Path) -> str:
    digest = hashlib.sha256(text)
    digest.update(b"\0" + os.fsencode(path.resolve()) + b"\0")
    digest.update(repr(_code_fingerprint()).encode())
    return digest.hexdigest()


def get(text: bytes, path: Path) -> Any | None:
    """The Lab kept for this text at this path, or None (never kept, unreadable, stale code)."""
    if not enabled() or len(text) > MAX_TEXT:
        return None
    try:
        data = (_DIR / key(text, path)).read_bytes()
    except OSError:
        return None
    try:
        return pickle.loads(data)
    except Exception:  # noqa: BLE001 - a torn or foreign entry: validate again and replace it
        return None


def put(text: bytes, path: Path, lab: Any) -> None:
    """Keep a Lab that validated (atomically; silently not, where the folder is read-only)."""
    if not enabled() or len(text) > MAX_TEXT:
        return
    try:
        _DIR.mkdir(parents=True, exist_ok=True)
        target = _DIR / key(text, path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_bytes(pickle.dumps(lab, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, target)
        _prune()
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass


def _prune() -> None:
    entries = [e for e in os.scandir(_DIR) if not e.name.startswith(".")]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for entry in entries[: len(entries) - MAX_ENTRIES]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass


@functools.cache
def _code_fingerprint() -> tuple[object, ...]:
    """What changes whenever the code that validates could: 2–3 ms of stat calls, once per process,
    importing nothing it fingerprints."""
    parts: list[object] = [sys.version, sys.prefix]
    for root, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                st = os.stat(os.path.join(root, name))
                parts.append((root[len(str(_PACKAGE)):], name, st.st_size, st.st_mtime_ns))
    for module in ("pydantic", "pydantic_core"):
        spec = importlib.util.find_spec(module)
        for where in (spec.submodule_search_locations or []) if spec else []:
            with os.scandir(where) as entries:
                parts += sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.is_file())
    return tuple(parts)
