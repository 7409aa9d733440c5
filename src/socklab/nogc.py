"""Pause Python's cyclic garbage collector around work that allocates much and frees little.

Loading, planning and bringing up a 10,000-node lab allocates hundreds of thousands of
long-lived objects (models, plans, batches); every full collection meanwhile walks all of
them, which cost about 6% of an `up` (bench/topology.py --profile). Nothing cyclic is
freed there, so collecting can wait until the work is done.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Collector off for the body (nesting-safe); back as it was afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
