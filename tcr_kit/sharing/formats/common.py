"""What the peer formats share: dropping repeated shares and refusing conflicting ones, and
the rules (with their messages) of the formats that interpolate one polynomial (ssss, Vault,
gfshare): how many shares are needed, and what the shares beyond the threshold showed."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sized
from typing import Protocol, TypeVar

from tcr_kit.sharing.errors import (
    DuplicateShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
)


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


def require_enough(shares: Sized, threshold: int | None) -> None:
    """Refuse fewer shares than ``threshold`` (at least two when the threshold is not known:
    these formats do not record it)."""
    need = threshold if threshold is not None else 2
    if len(shares) < need:
        raise NotEnoughSharesError(len(shares), need)


def refuse_off_polynomial(culprits: list[str], base: Iterable[str], threshold: int | None) -> None:
    """Refuse the shares beyond the threshold (``culprits``) that the polynomial through the
    ``base`` shares does not pass through: a set with one of them gives no trustworthy secret."""
    if culprits:
        raise InconsistentSharesError(
            f"shares do not lie on one polynomial of threshold {threshold}: "
            f"{', '.join(culprits)} disagree with {', '.join(base)}",
            culprits,
        )


def agreeing_extra_note(extra: int, result: str = "secret") -> str:
    """The warning when ``extra`` shares beyond the threshold agreed: consistency, not proof."""
    return (
        f"{extra} share(s) beyond the threshold agree with the others: the shares "
        f"are consistent, which is not a proof that the {result} is right."
    )
