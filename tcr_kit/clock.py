"""The one clock: timezone-aware UTC, swappable for tests.

A ceremony laptop whose time zone was not UTC once forced a step to be repeated; every
timestamp tcr-kit writes therefore comes from here, is aware, and is in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

__all__ = [
    "isoformat",
    "pinned",
    "set_clock",
    "utcnow",
]

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    value = _now()
    if value.tzinfo is None:
        raise RuntimeError("clock hook returned a naive datetime")
    return value.astimezone(UTC)


def set_clock(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (``None`` restores the system clock); for tests only."""
    global _now
    _now = source if source is not None else (lambda: datetime.now(UTC))


@contextmanager
def pinned(when: datetime) -> Iterator[None]:
    """Inside, :func:`utcnow` returns ``when``: a change whose audit event is signed before
    it is recorded (a witness's co-signature made from a signing request) must reproduce
    every time it writes exactly."""
    global _now
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    saved = _now
    _now = lambda: when  # noqa: E731
    try:
        yield
    finally:
        _now = saved


def isoformat(value: datetime) -> str:
    """ISO 8601 in UTC with the zone shown as ``Z``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
