"""A transcript parsed and checked in two halves, one per process.

Reading a 100,000-event transcript with :mod:`json` takes about half a second, all of it
before the events can be checked on two cores. Here the file is cut between two events near
its middle and each process parses and checks its own half, so the parse runs in parallel
too.

**Why the cut is sound.** The cut is at a comma between two objects, ``}`` then ``,`` then
white space then ``{`` (``c`` is the comma, ``q`` the ``{``). The front, ``raw[:c]`` followed
by ``]}``, must parse as a JSON object whose last member is ``events``, a list; the back,
``{"events":[`` followed by ``raw[q:]``, must parse as an object. A JSON parser reads
left to right with a stack of open containers: the front's parse proves that after
``raw[:c]`` exactly the top-level object and the ``events`` array are open (``]}`` closes
both and nothing else), and the back's parse, which starts in that same state, proves that
``raw[q:]`` completes it. So the whole file parses, its ``events`` are the front's then the
back's, and its other members are the front's updated by the back's (the standard library
keeps the last of duplicate keys, as :func:`merge` does). One case breaks the last rule:
a second ``events`` member in the back, which would replace the list that was cut. The
back is therefore refused if ``"events"`` appears in it unescaped (inside a JSON string a
quote is always escaped, so event bodies never trip this).

**Nothing but a success comes out of here.** :func:`check_in_halves` returns ``None`` for
any file it cannot cut or parse this way, and its caller then verifies the file whole; the
caller does the same when anything the halves found is wrong, so that errors are found,
ordered and worded exactly as the whole-file path words them. A tampered transcript is
therefore read twice; a good one once, in half the time.
"""

from __future__ import annotations

import json
import mmap
import os
import pickle
import re
import select
import signal
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tcr_kit.audit.chain import event_hash
from tcr_kit.audit.eventcheck import (
    RowOf,
    Selector,
    SliceResult,
    check_slice,
    key_bodies,
    key_timeline,
)
from tcr_kit.audit.parallel import can_fork

Progress = Callable[[int, int], None]

MIN_BYTES = 1 << 20
"""Below this size the whole-file path is used (a fork costs more than it saves)."""

_CUT = re.compile(rb"\}[ \t\r]*,[ \t\r\n]*\n[ \t\r\n]*\{")
_FRONT_CLOSE = b"]}"
_BACK_OPEN = b'{"events":['
_EVENTS_KEY = b'"events"'
_POLL_SECONDS = 0.2
_LENGTH = struct.Struct("<Q")


class _NotCut(Exception):
    """The file cannot be verified in halves (the caller verifies it whole)."""


def find_cut(raw: bytes) -> tuple[int, int] | None:
    """(comma, start of the next object) of the first ``},<newline>{`` from the middle of
    ``raw``; ``None`` if there is none (a file written on one line, say)."""
    found = _CUT.search(raw, len(raw) // 2)
    if found is None:
        return None
    return raw.index(b",", found.start()), found.end() - 1


def parse_front(raw: bytes, comma: int) -> dict[str, Any]:
    """The members before the cut, ``events`` last and holding the front's events."""
    try:
        front = json.loads(raw[:comma] + _FRONT_CLOSE)
    except (ValueError, RecursionError):
        raise _NotCut from None
    if type(front) is not dict or not front or next(reversed(front)) != "events":
        raise _NotCut
    if type(front["events"]) is not list or not front["events"]:
        raise _NotCut
    return front


def parse_back(raw: bytes, start: int) -> dict[str, Any]:
    """The members from the cut on, ``events`` first and holding the back's events."""
    if raw.count(_EVENTS_KEY, start) != raw.count(b"\\" + _EVENTS_KEY, start):
        raise _NotCut
    try:
        back = json.loads(_BACK_OPEN + raw[start:])
    except (ValueError, RecursionError):
        raise _NotCut from None
    if type(back) is not dict or type(back.get("events")) is not list:
        raise _NotCut
    return back


def merge(front: dict[str, Any], back: dict[str, Any]) -> dict[str, Any]:
    """The members of the whole file, ``events`` excepted, as :func:`json.loads` of the
    whole file would give them."""
    out = {k: v for k, v in front.items() if k != "events"}
    out.update((k, v) for k, v in back.items() if k != "events")
    return out


@dataclass
class Halves:
    """What the two processes established; the events of the back are not all here."""

    members: dict[str, Any]
    """The file's members but ``events``."""
    events: HalfEvents
    slices: tuple[SliceResult, SliceResult]
    keys: list[tuple[int, bytes]]
    """The key bodies of every event (for the whole log's key timeline)."""


class HalfEvents(Sequence[Any]):
    """The file's events as far as this process holds them: all of the front, and of the
    back only those asked for by index (co-signed events, events that carry signed
    statements, and the last one). Iterating, or
    asking for any other, raises :class:`LookupError`: the caller then reads the file whole."""

    def __init__(self, front: list[Any], back: dict[int, Any], total: int) -> None:
        self._front = front
        self._back = back
        self._total = total

    def __len__(self) -> int:
        return self._total

    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, int):
            raise LookupError("a slice of the events of a transcript read in halves")
        if index < 0:
            index += self._total
        if index < len(self._front):
            return self._front[index]
        if index in self._back:
            return self._back[index]
        raise LookupError(f"event index {index} is in the other half")

    def __iter__(self) -> Any:
        raise LookupError("the events of a transcript read in halves")


def check_in_halves(
    raw: bytes,
    row: RowOf,
    body: Callable[[Any], object],
    selection: Callable[[dict[str, Any]], Selector | None],
    progress: Progress | None = None,
) -> Halves | None:
    """Parse and check the events of a transcript file's bytes in two processes; ``None``
    where the file cannot be cut (see the module's docstring), or where either process
    fails for any reason: the caller then verifies the file whole.

    ``row`` and ``body`` read an event entry (see :func:`~tcr_kit.audit.verify.check_events`);
    ``selection`` gives the selector the file's members state (``None`` for none)."""
    if len(raw) < MIN_BYTES or not can_fork() or not raw.isascii():
        return None
    cut = find_cut(raw)
    if cut is None:
        return None
    comma, start = cut
    counters = mmap.mmap(-1, 16)
    to_back_r, to_back_w = os.pipe()
    to_front_r, to_front_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the back's process: never returns into the caller's stack
        status = 1
        try:
            os.close(to_back_w)
            os.close(to_front_r)
            _back_process(raw, start, row, body, selection, counters, to_back_r, to_front_w)
            status = 0
        finally:
            os._exit(status)
    os.close(to_back_r)
    os.close(to_front_w)
    done = False
    try:
        result = _front_process(
            raw, comma, row, body, selection, counters, progress, to_back_w, to_front_r
        )
        done = True
        return result
    except Exception:  # whatever went wrong here, the whole-file path decides
        return None
    finally:
        if not done:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)
        os.close(to_back_w)
        os.close(to_front_r)
        counters.close()


def _front_process(
    raw: bytes,
    comma: int,
    row: RowOf,
    body: Callable[[Any], object],
    selection: Callable[[dict[str, Any]], Selector | None],
    counters: mmap.mmap,
    progress: Progress | None,
    to_back: int,
    from_back: int,
) -> Halves:
    try:
        front = parse_front(raw, comma)
    except _NotCut:
        _send(to_back, None)
        raise
    events = front["events"]
    k = len(events)
    prev = event_hash(row(events[-1])[1]).hex()
    keys = key_bodies(events, body)
    _send(to_back, (k, prev, keys, {n: v for n, v in front.items() if n != "events"}))
    reply = _recv(from_back)
    if reply is None:
        raise _NotCut
    back_members, back_count = reply
    members = merge(front, back_members)
    total = k + back_count

    def tick() -> None:
        if progress is not None:
            progress(sum(struct.unpack_from("<2Q", counters)), total)

    def own(done: int) -> None:
        struct.pack_into("<Q", counters, 0, done)
        tick()

    mine = check_slice(events, 0, k, row, key_timeline(keys), selection(members), own)
    answer = _recv(from_back, tick)
    if answer is None:
        raise _NotCut
    theirs, back_keys, extras = answer
    if progress is not None:
        progress(total, total)
    return Halves(members, HalfEvents(events, extras, total), (mine, theirs), keys + back_keys)


def _back_process(
    raw: bytes,
    start: int,
    row: RowOf,
    body: Callable[[Any], object],
    selection: Callable[[dict[str, Any]], Selector | None],
    counters: mmap.mmap,
    from_front: int,
    to_front: int,
) -> None:
    try:
        back: dict[str, Any] | None = parse_back(raw, start)
    except _NotCut:
        back = None
    told = _recv(from_front)
    if back is None or told is None:
        _send(to_front, None)
        return
    events = back["events"]
    _send(to_front, ({n: v for n, v in back.items() if n != "events"}, len(events)))
    k, prev, front_keys, front_members = told
    members = merge(front_members, back)
    keys = [(k + i, data) for i, data in key_bodies(events, body)]

    def report(done: int) -> None:
        struct.pack_into("<Q", counters, 8, done)

    result = check_slice(
        events,
        0,
        len(events),
        row,
        key_timeline(front_keys + keys),
        selection(members),
        report,
        base=k,
        prev=prev,
    )
    wanted = {*result.cosigned, *result.statements, k + len(events) - 1}
    extras = {i: events[i - k] for i in wanted}
    _send(to_front, (result, keys, extras))


def _send(fd: int, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _recv(fd: int, tick: Callable[[], None] | None = None) -> Any:
    """One message from the other process (waiting for it with ``tick`` every 0.2 s);
    :class:`EOFError` if the other process ended first."""
    header = _read_exactly(fd, _LENGTH.size, tick)
    (size,) = _LENGTH.unpack(header)
    return pickle.loads(_read_exactly(fd, size, tick))  # noqa: S301 - our own forked child


def _read_exactly(fd: int, size: int, tick: Callable[[], None] | None) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        if tick is not None:
            ready, _, _ = select.select([fd], [], [], _POLL_SECONDS)
            if not ready:
                tick()
                continue
        data = os.read(fd, min(left, 1 << 20))
        if not data:
            raise EOFError("the other half's process ended without a result")
        chunks.append(data)
        left -= len(data)
    return b"".join(chunks)
