"""Run one task over the slices of a range: the calling process takes the first slice and
forked children the others.

Why fork, and why not a pool: what the task reads (a parsed transcript, a log's rows) is
already in the caller's memory, and a forked child sees it as it is, so a child receives
nothing but its two indices and sends back a small result; a pool would pickle every
event to its workers and keep one core busy doing so. The caller works on a slice too,
instead of waiting for workers. Forking is used on Linux only (where it is safe for what
the children do: hashing, JSON and libsodium on data they do not share back); elsewhere,
or for one slice, everything runs in the calling process. The children report how far
they are through counters in a shared anonymous mapping, which the caller folds into its
``progress(done, total)``.
"""

from __future__ import annotations

import mmap
import os
import pickle
import select
import signal
import struct
import sys
from collections.abc import Callable
from typing import TypeVar, cast

from tcr_kit.errors import OperationalError

T = TypeVar("T")
Progress = Callable[[int, int], None]
SliceTask = Callable[[int, int, Callable[[int], None] | None], T]
"""``task(start, stop, report)``: works on ``range(start, stop)``, calls ``report(done)``
from time to time, returns a picklable result."""

_POLL_SECONDS = 0.2


def can_fork() -> bool:
    """Whether slices may go to forked children here (Linux)."""
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def slice_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``range(n)`` cut into ``parts`` consecutive slices of near-equal length (fewer
    when ``n`` is smaller than ``parts``; one empty slice when ``n`` is 0)."""
    parts = max(1, min(parts, n))
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def run_slices(
    task: SliceTask[T], n: int, processes: int, progress: Progress | None = None
) -> list[T]:
    """``task`` over ``slice_bounds(n, processes)``; the results in slice order.

    :class:`OperationalError` if a child fails or dies (its error is named). A child that
    is still running when the caller is interrupted is killed and reaped."""
    bounds = slice_bounds(n, processes if can_fork() else 1)
    if len(bounds) == 1:
        report = (lambda done: progress(done, n)) if progress is not None else None
        return [task(0, n, report)]
    counters = mmap.mmap(-1, 8 * len(bounds))
    layout = struct.Struct(f"<{len(bounds)}Q")

    def tick() -> None:
        if progress is not None:
            progress(sum(layout.unpack_from(counters)), n)

    def own(done: int) -> None:
        struct.pack_into("<Q", counters, 0, done)
        tick()

    children: dict[int, int] = {}  # pid -> read end of its pipe
    try:
        for k in range(1, len(bounds)):
            pid, fd = _fork(task, bounds[k], counters, k)
            children[pid] = fd
        results = [task(*bounds[0], own)]
        for pid in list(children):
            data = _read_all(children[pid], tick)
            os.close(children.pop(pid))
            _, status = os.waitpid(pid, 0)
            results.append(cast(T, _result(data, status)))
        if progress is not None:
            progress(n, n)
        return results
    finally:
        for pid, fd in children.items():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)
        counters.close()


def _fork(
    task: SliceTask[T], bounds: tuple[int, int], counters: mmap.mmap, k: int
) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's stack
        status = 1
        try:
            os.close(read_fd)

            def report(done: int) -> None:
                struct.pack_into("<Q", counters, 8 * k, done)

            try:
                payload = pickle.dumps((True, task(bounds[0], bounds[1], report)))
            except BaseException as exc:
                payload = pickle.dumps((False, f"{type(exc).__name__}: {exc}"))
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view) :]
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return pid, read_fd


def _read_all(fd: int, tick: Callable[[], None]) -> bytes:
    """Everything the child writes, reporting progress while waiting for it."""
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], _POLL_SECONDS)
        if not ready:
            tick()
            continue
        data = os.read(fd, 1 << 20)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _result(data: bytes, status: int) -> object:
    try:
        ok, value = pickle.loads(data)  # noqa: S301 - our own forked child's, through a pipe
    except Exception:
        raise OperationalError(
            f"a verification process ended without a result (wait status {status})"
        ) from None
    if not ok:
        raise OperationalError(f"a verification process failed: {value}")
    return value
