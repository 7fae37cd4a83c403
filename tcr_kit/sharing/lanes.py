"""Per-share I/O threads ("lanes") that keep both cores busy during a split or a combine.

Once the GF(2^8) arithmetic runs on ISA-L, a split or combine of a large secret is mostly
work on each share's own bytes: reading or writing them, and SHA-256 (and CRC-32) over them.
That work is independent between shares but strictly ordered within one (a hash takes its
blocks in order), and every step of it releases the GIL (``os.preadv``, file writes,
hashlib on large buffers, ctypes calls). So each share gets a lane: a thread that handles
its share's blocks in order, while the main thread only does the arithmetic and hands blocks
over. With seven lanes the cores stay busy to the end, where a pool that waits for every
share of one chunk before starting the next leaves one core idle much of the time.

At most :data:`MAX_LANES` threads are started; with more shares, each lane takes several.
Blocks go through a small ring of buffers per share (:data:`DEPTH` chunks), so memory stays
bounded whatever the secret's size, and nothing is allocated per chunk.

A reading lane hashes each block *before* handing it over, into a buffer of this process:
the bytes the main thread combines are exactly the bytes that were hashed, even if the file
changes meanwhile (issue 11's first finding).

Only :mod:`threading` and :mod:`queue` are used: ``concurrent.futures`` imports ``logging``
and more, which a short command would pay for at start-up.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tcr_kit.sharing.native_share import NativeShare

__all__ = [
    "BUFFER_BUDGET",
    "DEPTH",
    "MAX_LANES",
    "MIN_CHUNK",
    "READ_CHUNK",
    "ReadLanes",
    "WriteLanes",
    "chunk_for",
]

READ_CHUNK = 1 << 19
"""Bytes per share per chunk read: twice the split's chunk, which measured a little faster
(fewer hand-overs per MiB) for 20 MiB of buffers in a 5-share combine."""

MAX_LANES = 8
"""Threads per split or combine; more shares than this share the lanes."""

DEPTH = 4
"""Chunks in flight per share: enough to hide one lane's hiccup, small for memory."""

BUFFER_BUDGET = 24 << 20
"""Bytes of ring buffers a split or combine may hold, whatever the number of shares: the
peak memory must not grow with the secret (issue 14: at most 64 MiB in all), nor much with
the share count (up to 255)."""

MIN_CHUNK = 16 << 10
"""The smallest chunk :func:`chunk_for` gives (255 shares: 16 MiB of buffers)."""

_STOP = -1


def chunk_for(buffers: int, preferred: int) -> int:
    """Bytes per chunk for ``buffers`` buffers per chunk (one per share, plus the secret's
    for a split): ``preferred`` unless :data:`DEPTH` chunks of them would exceed
    :data:`BUFFER_BUDGET`, never below :data:`MIN_CHUNK`."""
    fitting = BUFFER_BUDGET // (DEPTH * max(buffers, 1))
    return max(MIN_CHUNK, min(preferred, fitting))


def _deal(count: int) -> list[list[int]]:
    """Positions 0..count-1 dealt round-robin to at most MAX_LANES lanes."""
    lanes = min(count, MAX_LANES)
    return [list(range(first, count, lanes)) for first in range(lanes)]


class _ReadLane:
    def __init__(self, shares: Sequence[NativeShare], length: int, chunk: int) -> None:
        self.shares = list(shares)
        self.length = length
        self.chunk = chunk
        self.hashers = [hashlib.sha256() for _ in self.shares]
        self.buffers = [
            [memoryview(bytearray(min(chunk, length))) for _ in self.shares] for _ in range(DEPTH)
        ]
        self.free: SimpleQueue[int] = SimpleQueue()
        self.ready: SimpleQueue[int] = SimpleQueue()
        for slot in range(DEPTH):
            self.free.put(slot)
        self.error: BaseException | None = None
        self.fds: list[int | None] = []
        self.thread = threading.Thread(target=self._run, name="tcr-read-lane", daemon=True)

    def _run(self) -> None:
        try:
            for offset in range(0, self.length, self.chunk):
                slot = self.free.get()
                if slot == _STOP:
                    return
                size = min(self.chunk, self.length - offset)
                for share, fd, hasher, buf in zip(
                    self.shares, self.fds, self.hashers, self.buffers[slot], strict=True
                ):
                    hasher.update(share.read_payload_into(fd, offset, buf[:size]))
                self.ready.put(slot)
        except BaseException as exc:  # handed to the main thread, which raises it
            self.error = exc
            self.ready.put(_STOP)


class ReadLanes:
    """Read and hash the payloads of ``shares`` chunk by chunk, on lane threads.

    Use as a context manager; :meth:`take` returns the next chunk of every share (in the
    order given), already hashed; :meth:`give_back` returns its buffers for reuse once the
    caller is done with them. :meth:`digests` are the SHA-256 of everything read so far.
    """

    def __init__(
        self, shares: Sequence[NativeShare], length: int, chunk: int | None = None
    ) -> None:
        if chunk is None:
            chunk = chunk_for(len(shares), READ_CHUNK)
        self.chunk = chunk
        """Bytes per share per :meth:`take` (the last may be shorter)."""
        self._order = _deal(len(shares))
        self._lanes = [
            _ReadLane([shares[i] for i in group], length, chunk) for group in self._order
        ]
        self._length = length
        self._chunk = chunk
        self._slots: list[int] = []
        self._offset = 0

    def __enter__(self) -> ReadLanes:
        try:
            for lane in self._lanes:
                for share in lane.shares:
                    lane.fds.append(share.open_fd())
        except BaseException:
            self._close()
            raise
        for lane in self._lanes:
            lane.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for lane in self._lanes:
            lane.free.put(_STOP)
        for lane in self._lanes:
            lane.thread.join()
        self._close()

    def _close(self) -> None:
        for lane in self._lanes:
            for fd in lane.fds:
                if fd is not None:
                    os.close(fd)
            lane.fds.clear()

    def take(self) -> list[memoryview]:
        """The next chunk of every share, hashed; raises what a lane met (a read error)."""
        size = min(self._chunk, self._length - self._offset)
        if size <= 0:
            raise ValueError("every chunk was taken")
        blocks: list[memoryview | None] = [None] * sum(len(g) for g in self._order)
        self._slots = []
        for lane, group in zip(self._lanes, self._order, strict=True):
            slot = lane.ready.get()
            if slot == _STOP:
                raise lane.error or RuntimeError("a read lane stopped early")
            self._slots.append(slot)
            for position, buf in zip(group, lane.buffers[slot], strict=True):
                blocks[position] = buf[:size]
        self._offset += size
        return [b for b in blocks if b is not None]

    def give_back(self) -> None:
        """The blocks of the last :meth:`take` may be overwritten now."""
        for lane, slot in zip(self._lanes, self._slots, strict=True):
            lane.free.put(slot)
        self._slots = []

    def digests(self) -> list[bytes]:
        """SHA-256 of each share's bytes read so far (in the order given)."""
        out: list[bytes | None] = [None] * sum(len(g) for g in self._order)
        for lane, group in zip(self._lanes, self._order, strict=True):
            for position, hasher in zip(group, lane.hashers, strict=True):
                out[position] = hasher.digest()
        return [d for d in out if d is not None]


class _WriteLane:
    def __init__(
        self, consume: Sequence[Callable[[memoryview], object]], done: Callable[[int], None]
    ):
        self.consume = list(consume)
        self.done = done
        self.todo: SimpleQueue[tuple[int, list[memoryview]] | None] = SimpleQueue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="tcr-write-lane", daemon=True)

    def _run(self) -> None:
        while True:
            item = self.todo.get()
            if item is None:
                return
            slot, blocks = item
            try:
                if self.error is None:
                    for consume, block in zip(self.consume, blocks, strict=True):
                        consume(block)
            except BaseException as exc:  # the main thread raises it; later blocks are skipped
                self.error = exc
            finally:
                self.done(slot)


class WriteLanes:
    """Hand each chunk's share blocks to per-share consumers (framing, hashing, writing)
    running on lane threads, in order per share; recycle the chunk's buffer set once every
    lane is done with it.

    ``sets`` are the caller's buffer sets (any objects); :meth:`free_set` waits for one that
    no lane still uses. A consumer that raises stops its share's output: :meth:`check`
    (called by :meth:`put` and on exit) raises the first such error in the main thread.
    """

    def __init__(
        self, consumers: Sequence[Callable[[memoryview], object]], sets: Sequence[Any]
    ) -> None:
        self._order = _deal(len(consumers))
        self._sets = list(sets)
        self._free: SimpleQueue[int] = SimpleQueue()
        for slot in range(len(self._sets)):
            self._free.put(slot)
        self._pending = [0] * len(self._sets)
        self._lock = threading.Lock()
        self._lanes = [
            _WriteLane([consumers[i] for i in group], self._lane_done) for group in self._order
        ]
        self._current: int | None = None

    def _lane_done(self, slot: int) -> None:
        with self._lock:
            self._pending[slot] -= 1
            last = self._pending[slot] == 0
        if last:
            self._free.put(slot)

    def __enter__(self) -> WriteLanes:
        for lane in self._lanes:
            lane.thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        for lane in self._lanes:
            lane.todo.put(None)
        for lane in self._lanes:
            lane.thread.join()
        if exc_type is None:
            self.check()

    def free_set(self) -> Any:
        """A buffer set no lane uses any more (waits for one)."""
        self._current = self._free.get()
        return self._sets[self._current]

    def put(self, blocks: Sequence[memoryview]) -> None:
        """Queue ``blocks`` (one per consumer, views into the set from :meth:`free_set`)."""
        self.check()
        slot = self._current
        if slot is None:
            raise ValueError("put() without free_set()")
        self._current = None
        self._pending[slot] = len(self._lanes)
        for lane, group in zip(self._lanes, self._order, strict=True):
            lane.todo.put((slot, [blocks[i] for i in group]))

    def release(self) -> None:
        """Give back the set from :meth:`free_set` unused (the input ended)."""
        if self._current is not None:
            self._free.put(self._current)
            self._current = None

    def check(self) -> None:
        """Raise the first error a consumer met."""
        for lane in self._lanes:
            if lane.error is not None:
                raise lane.error
