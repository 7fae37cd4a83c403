"""Wipeable secret buffers and the one source of randomness.

Python cannot promise that a secret never lingers in memory: immutable ``bytes`` are copied
by the interpreter, freed memory is not zeroed, and the garbage collector decides when an
object dies. What we can do, and do, is keep every secret in a mutable ``bytearray`` that
is overwritten as soon as it is no longer needed, never turn it into ``str``, and keep it out
of ``repr`` and tracebacks. :class:`SecretBuffer` is that discipline in one type.

Randomness comes from :func:`random_bytes`, which reads the operating system's CSPRNG. Tests
that make reproducible vectors swap it with :func:`set_random_source`; nothing else should.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

__all__ = [
    "RandomSource",
    "SecretBuffer",
    "is_default_random_source",
    "random_bytes",
    "random_source",
    "set_random_source",
    "wipe",
]

RandomSource = Callable[[int], bytes]


def _os_random(n: int) -> bytes:
    return os.urandom(n)


_random_source: RandomSource = _os_random


def random_bytes(n: int) -> bytes:
    """Return ``n`` bytes from the configured CSPRNG (the OS by default)."""
    if n < 0:
        raise ValueError("n must be non-negative")
    data = _random_source(n)
    if len(data) != n:
        raise RuntimeError("random source returned the wrong number of bytes")
    return data


def set_random_source(source: RandomSource | None) -> None:
    """Replace the randomness source (``None`` restores the OS CSPRNG).

    Only for generating deterministic test vectors: a fixed source makes every share
    predictable.
    """
    global _random_source
    _random_source = source if source is not None else _os_random


def is_default_random_source() -> bool:
    """True while randomness comes from the operating system."""
    return _random_source is _os_random


@contextmanager
def random_source(source: RandomSource) -> Iterator[None]:
    """Use ``source`` for randomness inside a ``with`` block (tests and vector generation)."""
    global _random_source
    previous = _random_source
    _random_source = source
    try:
        yield
    finally:
        _random_source = previous


def wipe(buf: bytearray | memoryview) -> None:
    """Overwrite a mutable buffer with zeros in place."""
    view = memoryview(buf).cast("B")
    view[:] = bytes(len(view))


class SecretBuffer:
    """A secret held in a ``bytearray`` that is wiped on :meth:`wipe` or on leaving ``with``.

    The repr never shows the content. Equality is deliberately not defined: compare secrets
    with :func:`hmac.compare_digest` on :meth:`view`.
    """

    __slots__ = ("_buf", "_wiped")

    def __init__(self, data: bytes | bytearray | memoryview | int = 0) -> None:
        if isinstance(data, int):
            self._buf = bytearray(data)
        else:
            self._buf = bytearray(data)
            if isinstance(data, bytearray):
                # The caller handed over its own buffer: wipe the original copy.
                wipe(data)
        self._wiped = False

    @classmethod
    def adopt(cls, buf: bytearray) -> SecretBuffer:
        """Take ownership of ``buf`` without copying it."""
        obj = cls(0)
        obj._buf = buf
        return obj

    def __len__(self) -> int:
        return len(self._buf)

    def __repr__(self) -> str:
        state = "wiped" if self._wiped else f"{len(self._buf)} bytes"
        return f"<SecretBuffer {state}>"

    __str__ = __repr__

    def view(self) -> memoryview:
        """A read-write view of the secret; do not keep it beyond the buffer's life."""
        if self._wiped:
            raise ValueError("secret buffer already wiped")
        return memoryview(self._buf)

    @property
    def raw(self) -> bytearray:
        """The underlying ``bytearray`` (for APIs that need one); still owned by this object."""
        if self._wiped:
            raise ValueError("secret buffer already wiped")
        return self._buf

    def wipe(self) -> None:
        """Zero the content and forget its length."""
        if not self._wiped:
            wipe(self._buf)
            self._buf.clear()
            self._wiped = True

    @property
    def wiped(self) -> bool:
        return self._wiped

    def __enter__(self) -> SecretBuffer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wipe()

    def __del__(self) -> None:
        try:
            self.wipe()
        except Exception:  # noqa: S110 - best effort during interpreter shutdown
            pass
