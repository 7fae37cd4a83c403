"""Counting the inputs each fuzz test has run, so that a long run stopped before its end
(a deadline, a shared machine) still says exactly how far each parser got.

With ``TCR_FUZZ_PROGRESS`` set to a file, every :data:`EVERY` inputs of a test append one
line ``<UTC time> <pytest node id> <inputs so far>`` to it; unset, counting costs nothing.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

PROGRESS = os.environ.get("TCR_FUZZ_PROGRESS", "")
EVERY = 5000
_counts: Counter[str] = Counter()
P = ParamSpec("P")
R = TypeVar("R")


def counted(test: Callable[P, R]) -> Callable[P, R]:
    """Wrap a test body (under ``@given``) to count its inputs into the progress file."""
    if not PROGRESS:
        return test

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        node = os.environ.get("PYTEST_CURRENT_TEST", test.__name__).removesuffix(" (call)")
        _counts[node] += 1
        if _counts[node] % EVERY == 0:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            with open(PROGRESS, "a", encoding="utf-8") as out:
                out.write(f"{stamp} {node} {_counts[node]}\n")
        return test(*args, **kwargs)

    return run
