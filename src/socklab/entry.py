"""The `socklab` executable: its help screens from a cache (`socklab`, `--help`, `CMD --help`), the rest via cli.py.

Why a cache: importing typer alone costs about 5x a bare interpreter start, and rendering
its rich help (rich, markdown-it) as much again; the help of an unchanged socklab on an
unchanged terminal is always the same text. So the first `--help` renders it with typer
and keeps the exact bytes (and exit code) in __pycache__, keyed by socklab's sources, the
interpreter, the terminal's width and colour settings; later ones print them with the
standard library only. `socklab CMD --help` (or -h) is kept the same way, one file per
command, but only once typer answered it with exit 0 (an unknown CMD is not kept).
`socklab run LAB...` with no option goes to cli_run without typer (~30 ms less); any other
command line goes to typer. Standard library only, until a command runs.
"""

from __future__ import annotations

import os
import sys
import zlib
from typing import NoReturn

HELP_ARGS = ([], ["--help"], ["-h"])
HELP_OPTIONS = ("--help", "-h")
_HERE = os.path.dirname(os.path.abspath(__file__))
_ENV = ("COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
        "TYPER_USE_RICH", "_TYPER_FORCE_DISABLE_TERMINAL", "LANG", "LC_ALL")


def _key() -> str:
    """Changes whenever the help could: a source file, the interpreter, the terminal."""
    parts: list[object] = [sys.version, sys.prefix, sys.argv[1:]]
    with os.scandir(_HERE) as entries:
        parts += sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries if e.name.endswith(".py"))
    for stream in (sys.stdout, sys.stderr):
        try:
            tty = stream.isatty()
            width = os.get_terminal_size(stream.fileno()).columns if tty else None
        except (OSError, ValueError, AttributeError):
            tty, width = False, None
        parts.append((tty, width))
    parts += [os.environ.get(name) for name in _ENV]
    return f"{zlib.crc32(repr(parts).encode()):08x}"


def _cache_path() -> str:
    return os.path.join(_HERE, "__pycache__", f"help-{_key()}.bin")


class _Tee:
    """A stream that writes through and keeps a copy of the bytes (rich asks it isatty and
    fileno; click writes to its .buffer)."""

    def __init__(self, stream, copy: list[bytes] | None = None):
        self.stream, self.copy = stream, copy if copy is not None else []

    def write(self, data: str | bytes) -> int:
        encoding = getattr(self.stream, "encoding", None) or "utf-8"
        self.copy.append(data if isinstance(data, bytes) else data.encode(encoding, "replace"))
        return self.stream.write(data)

    @property
    def buffer(self) -> _Tee:
        return _Tee(self.stream.buffer, self.copy)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _serve(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            code, out_len, rest = f.read().split(b"\n", 2)
    except (OSError, ValueError):
        return False
    out, err = rest[: int(out_len)], rest[int(out_len):]
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.stderr.buffer.write(err)
    sys.stderr.flush()
    raise SystemExit(int(code))


def _cached_help(args: list[str]) -> bool | None:
    """Whether `args` asks for a help the cache may serve: True for socklab's own (kept whatever
    its exit code: bare `socklab` exits 2), False for a command's (kept only after exit 0), else None."""
    if args in HELP_ARGS:
        return True
    if len(args) == 2 and args[1] in HELP_OPTIONS and not args[0].startswith("-"):
        return False
    return None


def _render_and_keep(path: str, any_code: bool = True) -> None:
    from socklab import cli

    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    code: object = 0
    try:
        cli.main()
    except SystemExit as exit_:
        code = exit_.code
        raise
    finally:
        sys.stdout, sys.stderr = out.stream, err.stream
        if isinstance(code, int | None) and (any_code or not code):
            _keep(path, code or 0, b"".join(out.copy), b"".join(err.copy))


def _keep(path: str, code: int, out: bytes, err: bytes) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(b"%d\n%d\n" % (code, len(out)) + out + err)
        os.replace(tmp, path)
        _prune(os.path.dirname(path))
    except OSError:
        pass  # a read-only install: every --help renders, as before


def _prune(cache: str) -> None:
    """Drop helps kept before the newest source change: no key can reach them again."""
    newest = max(e.stat().st_mtime for e in os.scandir(_HERE) if e.name.endswith(".py"))
    for entry in os.scandir(cache):
        if entry.name.startswith("help-") and entry.stat().st_mtime < newest:
            os.unlink(entry.path)


def main() -> None:
    kind = _cached_help(sys.argv[1:])
    if kind is not None and not os.environ.get("SOCKLAB_NO_HELP_CACHE"):
        path = _cache_path()
        if not _serve(path):
            _render_and_keep(path, any_code=kind)
        return
    from socklab.cli_run import fast_path, run_without_typer

    if fast_path(sys.argv[1:]):
        raise SystemExit(run_without_typer(sys.argv[2:]))
    from socklab.cli import main as cli_main

    cli_main()


def console() -> NoReturn:
    """The `socklab` executable: main(), then leave() with its exit code."""
    try:
        main()
    except SystemExit as exit_:
        leave(exit_.code)
    leave(0)


def leave(code: object) -> NoReturn:
    """Exit without the interpreter's teardown, which frees every module and object one by one
    (30-50 ms after a run here). A command has closed what it wrote by the time it returns; its
    buffered stdout and stderr are flushed here. Non-daemon threads are not waited for: none
    outlives a command's work."""
    if code is None or isinstance(code, int):
        status = code or 0
    else:  # sys.exit("message"), as the interpreter would say it
        print(code, file=sys.stderr)
        status = 1
    try:
        if sys.stdout is not None:  # None: started with stdout closed
            sys.stdout.flush()
    except (OSError, ValueError):
        status = status or 120  # the interpreter's own code for an unflushable stdout
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(status)


if __name__ == "__main__":
    console()
