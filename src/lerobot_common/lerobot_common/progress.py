"""Progress over a known number of items: a tqdm bar on a terminal, a plain line per tenth in a log file
(a bar's carriage-return redraws would fill a log with one endless line)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    items: Iterable[T], total: int, desc: str, unit: str, enabled: bool = True, leave: bool = True
) -> Iterable[T]:
    """``items``, reporting progress on stderr while they are consumed."""
    if not enabled:
        return items
    if sys.stderr.isatty():
        return tqdm(items, total=total, desc=desc, unit=unit, leave=leave)
    return _logged(items, total, desc, unit)


def _logged(items: Iterable[T], total: int, desc: str, unit: str) -> Iterator[T]:
    started = time.monotonic()
    marks = {math.ceil(total * tenth / 10) for tenth in range(1, 11)}
    for done, item in enumerate(items, 1):
        yield item  # the caller's work on it happens before the next resume
        if done in marks:
            elapsed = time.monotonic() - started
            print(f"{desc}: {done}/{total} {unit}s, {elapsed:.0f} s", file=sys.stderr, flush=True)
