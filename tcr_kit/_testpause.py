"""Test hooks that hold an operation at one moment so that a test can change a file then.

A hook is an environment variable naming a FIFO: the operation reads it to its end (the test
writes and closes it when it has made its change). The variables are never set outside the
tests; one left set by mistake (a missing path, a plain file, a device that never ends) must
not make an operation fail obscurely or hang, so anything but a FIFO is refused in one line
naming the variable, before the operation has done anything. A hook can only delay an
operation, never skip a check.
"""

from __future__ import annotations

import os
import stat

from tcr_kit.errors import InputError

__all__ = ["pause_for_tests"]


def pause_for_tests(variable: str, nothing_done: str) -> None:
    """Block until the FIFO named by environment variable ``variable`` is written and closed;
    return at once when it is unset. ``nothing_done`` ends the refusal (what was not done)."""
    fifo = os.environ.get(variable)
    if not fifo:
        return
    try:
        is_fifo = stat.S_ISFIFO(os.stat(fifo).st_mode)
    except OSError:
        is_fifo = False
    if not is_fifo:
        raise InputError(
            f"{variable}={fifo!r} is set but is not a FIFO: it is a test hook, never set for"
            f" real work; unset it ({nothing_done})"
        )
    with open(fifo, "rb") as fh:
        fh.read()
