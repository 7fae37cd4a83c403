"""What the peer formats share: dropping repeated shares and refusing conflicting ones."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Protocol, TypeVar

from tcr_kit.sharing.errors import DuplicateShareError


class _Sourced(Protocol):
    @property
    def source(self) -> str: ...


S = TypeVar("S", bound=_Sourced)


def drop_repeats(
    shares: Iterable[S],
    key: Callable[[S], Hashable],
    same: Callable[[S, S], bool],
    slot: Callable[[S], str],
) -> tuple[list[S], dict[str, str]]:
    """The shares with exact repeats removed (listed in the second value, source -> why).

    ``key`` is a share's position in its set (its index), ``same`` tells a repeat from a
    conflict, ``slot`` names the position in messages. Two different shares in one position
    raise :class:`DuplicateShareError`.
    """
    rejected: dict[str, str] = {}
    unique: list[S] = []
    seen: dict[Hashable, S] = {}
    for share in shares:
        previous = seen.get(key(share))
        if previous is not None:
            if same(previous, share):
                rejected[share.source] = f"same share as {previous.source}"
                continue
            raise DuplicateShareError(
                share.source, f"{slot(share)} already given by {previous.source}"
            )
        seen[key(share)] = share
        unique.append(share)
    return unique, rejected
