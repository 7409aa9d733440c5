"""The regexes of lab files, run on what programs produced (expectations, `ready: {output:}`):
with the `regex` module and a time limit, never `re`.

Why: `re` backtracks exponentially on some patterns, and a graded program chooses its own
output. `^(\\w+\\s?)*$` against 24 letters and a "!" takes `re` 1.2-1.9 s, against 30 over a minute:
one printed line could hold a grading forever. `regex` answers such patterns at once, and its
`timeout` bounds whatever else a pattern and an input can do. A check whose search runs out of
time could not be checked (an error, no points), as the report then says.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from socklab.errors import SocklabError

if TYPE_CHECKING:
    import regex  # loaded on first use: importing this module stays free for runs without regexes

SEARCH_TIMEOUT = 1.0  # seconds for one search
CHECK_BUDGET = 5.0  # seconds for all the searches of one check (one per packet of a capture, say)
_deadline = threading.local()  # per thread: a grading verifies several runs side by side


class RegexTimeout(SocklabError):
    """The lab's regex took too long on what a program produced."""


def problem(pattern: str, over_bytes: bool = False) -> str | None:
    """Why this engine rejects a lab file's pattern (None: it compiles), for the model's checks."""
    import regex

    try:
        regex.compile(pattern.encode() if over_bytes else pattern)
    except (regex.error, UnicodeEncodeError) as err:
        return str(err)
    return None


def compile_text(pattern: str) -> regex.Pattern:
    """An output regex: lines of text (MULTILINE), as `re` read them."""
    import regex

    return regex.compile(pattern, regex.MULTILINE)


def compile_bytes(pattern: str) -> regex.Pattern:
    """A payload or stream regex: over bytes, `.` matching newlines too (DOTALL)."""
    import regex

    return regex.compile(pattern.encode(), regex.DOTALL)


@contextmanager
def budget(seconds: float | None = None) -> Iterator[None]:
    """The searches inside share `seconds` (default CHECK_BUDGET): the verifier gives each check one."""
    previous = getattr(_deadline, "at", None), getattr(_deadline, "seconds", None)
    _deadline.seconds = CHECK_BUDGET if seconds is None else seconds
    _deadline.at = time.monotonic() + _deadline.seconds
    try:
        yield
    finally:
        _deadline.at, _deadline.seconds = previous


def found(rx: regex.Pattern, data: str | bytes) -> bool:
    """Whether `rx` matches somewhere in `data` (RegexTimeout past SEARCH_TIMEOUT, or once the
    budget this search runs under is spent)."""
    limit, at = SEARCH_TIMEOUT, getattr(_deadline, "at", None)
    if at is not None:
        limit = min(limit, at - time.monotonic())
    try:
        if limit <= 0:
            raise TimeoutError
        return rx.search(data, timeout=limit) is not None
    except TimeoutError:
        pattern = rx.pattern if isinstance(rx.pattern, str) else rx.pattern.decode(errors="replace")
        spent = f"over {SEARCH_TIMEOUT:g}s on {len(data)} bytes" if limit == SEARCH_TIMEOUT else \
            f"the check's {_deadline.seconds:g}s over the packets or lines"
        raise RegexTimeout(f"the regex /{pattern}/ took {spent} of what the program produced "
                           "(catastrophic backtracking): not checked") from None
