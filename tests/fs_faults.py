"""Real file-system faults for tests: a tiny tmpfs that fills up, or one that is read-only.

Mounting needs root (CI and the project's machines run the suite as root); elsewhere the
tests that need it fail or skip as :func:`tests.conftest.stack_missing` decides. Every
mount is undone in ``finally``, also when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import stack_missing


@contextlib.contextmanager
def tmpfs(where: Path, *, size_kib: int = 64, read_only: bool = False) -> Iterator[Path]:
    """A fresh tmpfs of ``size_kib`` KiB mounted at ``where`` (created), unmounted after.

    With ``read_only`` it is remounted read-only after the body's set-up: use
    :func:`remount_read_only` for that instead when files must be put there first.
    """
    if os.geteuid() != 0:
        stack_missing("mounting a test file system needs root")
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k,mode=0700"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tcr-test", str(where)], check=True)
    try:
        if read_only:
            remount_read_only(where)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount_read_only(where: Path) -> None:
    """Make the tmpfs at ``where`` read-only (its files stay readable)."""
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
