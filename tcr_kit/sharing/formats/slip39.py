"""SLIP-39 mnemonic shares, through the reference library ``shamir-mnemonic``.

SLIP-39 is the one peer format with integrity data of its own:

* every mnemonic carries an RS1024 checksum (three words), checked by :func:`parse`;
* the shares of a group interpolate, besides the secret, to a digest share: an HMAC-SHA256
  of the shared secret under random bytes, checked when combining (threshold >= 2). That
  proves the shares belong together and interpolate to the value they were made from.

What it cannot check is the passphrase: the master secret is encrypted with it (a Feistel
cipher over PBKDF2), and any passphrase decrypts to *some* secret, by design.

tcr-kit splits into a single group (m-of-n, 2 <= m <= n <= 16) and combines any valid set,
including multi-group sets made elsewhere. The passphrase is a parameter: the library never
prompts. Randomness comes from :func:`tcr_kit.secrets.random_bytes`, so seeded vectors work.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from shamir_mnemonic import shamir as _shamir
from shamir_mnemonic.share import Share as _Share
from shamir_mnemonic.utils import MnemonicError

from tcr_kit.secrets import SecretBuffer, random_bytes
from tcr_kit.sharing.errors import (
    ForeignShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareChecksumError,
    ShareError,
)
from tcr_kit.sharing.formats.base import ForeignOptions, ShareFacts, TextFormat, parses
from tcr_kit.sharing.formats.common import drop_repeats
from tcr_kit.sharing.result import CombineResult

FORMAT_NAME = "slip39"
"""Name of this format in auto-detection and reports."""

MAX_SHARES = 16
"""SLIP-39 member indices are four bits."""
MIN_SECRET_BYTES = 16
"""SLIP-39 master secrets are at least 128 bits ..."""
MAX_ITERATION_EXPONENT = 15
"""... and the PBKDF2 iteration exponent is four bits (10000 x 2^e iterations in all)."""


@dataclass(frozen=True)
class Slip39Share:
    """One checked SLIP-39 mnemonic. ``index`` is the member index plus one (1..16)."""

    index: int
    member_index: int
    member_threshold: int
    group_index: int
    group_threshold: int
    group_count: int
    identifier: int
    iteration_exponent: int
    extendable: bool
    mnemonic: str
    source: str

    def __repr__(self) -> str:
        return (
            f"Slip39Share(id={self.identifier}, group={self.group_index}, "
            f"member={self.member_index}, source={self.source!r})"
        )

    @property
    def set_parameters(self) -> tuple[int, bool, int, int, int]:
        """What every share of one set has in common."""
        return (
            self.identifier,
            self.extendable,
            self.iteration_exponent,
            self.group_threshold,
            self.group_count,
        )


@contextmanager
def _our_randomness() -> Iterator[None]:
    previous = _shamir.RANDOM_BYTES
    _shamir.RANDOM_BYTES = random_bytes
    try:
        yield
    finally:
        _shamir.RANDOM_BYTES = previous


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def parse(text: str, source: str) -> Slip39Share:
    """Parse and checksum one mnemonic; :class:`ShareError` naming ``source`` otherwise."""
    if not isinstance(text, str):
        raise ShareError(source, "not a text share")
    mnemonic = _normalise(text)
    try:
        share = _Share.from_mnemonic(mnemonic)
    except MnemonicError as exc:
        message = str(exc)
        if "checksum" in message.lower():
            raise ShareChecksumError(source, "SLIP-39 checksum does not match") from None
        raise ShareError(source, f"not a valid SLIP-39 mnemonic: {message}") from None
    except (ValueError, KeyError, IndexError, OverflowError) as exc:
        raise ShareError(source, f"not a valid SLIP-39 mnemonic ({type(exc).__name__})") from None
    return Slip39Share(
        index=share.index + 1,
        member_index=share.index,
        member_threshold=share.member_threshold,
        group_index=share.group_index,
        group_threshold=share.group_threshold,
        group_count=share.group_count,
        identifier=share.identifier,
        iteration_exponent=share.iteration_exponent,
        extendable=share.extendable,
        mnemonic=mnemonic,
        source=source,
    )


def looks_like(text: str) -> bool:
    """True if ``text`` is a SLIP-39 mnemonic with a valid checksum."""
    return parses(parse, text)


def split(
    secret: bytes | bytearray,
    threshold: int,
    count: int,
    *,
    passphrase: bytes | bytearray = b"",
    iteration_exponent: int = 1,
    extendable: bool = True,
) -> list[str]:
    """Split ``secret`` into ``count`` single-group SLIP-39 mnemonics, ``threshold`` needed.

    ``passphrase`` (printable ASCII bytes, empty by default) encrypts the secret before it is
    shared; it is supplied by the caller, never prompted. ``iteration_exponent`` sets the
    PBKDF2 work (10000 x 2^e iterations). ``extendable`` is SLIP-39's extendable-backup flag.
    """
    if not 2 <= threshold <= count:
        raise ValueError("SLIP-39 sharing here needs 2 <= threshold <= count")
    if count > MAX_SHARES:
        raise ValueError(f"SLIP-39 allows at most {MAX_SHARES} shares per group")
    if len(secret) < MIN_SECRET_BYTES or len(secret) % 2:
        raise ValueError("SLIP-39 secrets are an even number of bytes, at least 16")
    if not 0 <= iteration_exponent <= MAX_ITERATION_EXPONENT:
        raise ValueError("iteration exponent must be 0..15")
    if not all(32 <= b <= 126 for b in passphrase):
        raise ValueError("the passphrase must be printable ASCII")
    with _our_randomness():
        groups = _shamir.generate_mnemonics(
            1,
            [(threshold, count)],
            bytes(secret),
            passphrase=bytes(passphrase),
            extendable=extendable,
            iteration_exponent=iteration_exponent,
        )
    mnemonics: list[str] = list(groups[0])
    return mnemonics


def _select(shares: Sequence[Slip39Share]) -> tuple[list[Slip39Share], dict[str, str]]:
    """Drop exact repeats, refuse foreign shares and conflicting indices."""
    first = shares[0]
    for share in shares:
        if share.set_parameters != first.set_parameters:
            raise ForeignShareError(
                share.source,
                f"belongs to another SLIP-39 set than {first.source} "
                "(identifier, iteration exponent or group parameters differ)",
            )
    return drop_repeats(
        shares,
        key=lambda s: (s.group_index, s.member_index),
        same=lambda a, b: hmac.compare_digest(a.mnemonic, b.mnemonic),
        slot=lambda s: f"group {s.group_index} member {s.member_index}",
    )


def _recover(selected: Sequence[Slip39Share]) -> _shamir.EncryptedMasterSecret:
    try:
        groups = _shamir.decode_mnemonics([s.mnemonic for s in selected])
        return _shamir.recover_ems(groups)
    except MnemonicError as exc:
        message = str(exc)
        if "digest" in message.lower():
            raise InconsistentSharesError(
                "the SLIP-39 digest does not match: the shares do not belong together "
                "or one is corrupt",
                [s.source for s in selected],
            ) from None
        raise InconsistentSharesError(f"SLIP-39 shares rejected: {message}") from None


def combine(
    shares: Sequence[Slip39Share],
    *,
    passphrase: bytes | bytearray = b"",
) -> CombineResult:
    """Recover the master secret; ``verified`` says whether SLIP-39's digest was checked.

    Shares beyond a group's threshold are each checked, by recombining with them in place of
    another share, to give the same encrypted secret.
    """
    if not shares:
        raise NotEnoughSharesError(0, 2)
    unique, rejected = _select(shares)
    first = unique[0]
    groups: dict[int, list[Slip39Share]] = {}
    for share in unique:
        groups.setdefault(share.group_index, []).append(share)
    for members in groups.values():
        thresholds = {s.member_threshold for s in members}
        if len(thresholds) != 1:
            raise InconsistentSharesError(
                "shares of one SLIP-39 group disagree on its threshold",
                [s.source for s in members],
            )
    complete = {g: m for g, m in groups.items() if len(m) >= m[0].member_threshold}
    if len(complete) < first.group_threshold:
        if first.group_threshold == 1 and len(groups) == 1:
            members = next(iter(groups.values()))
            raise NotEnoughSharesError(len(members), members[0].member_threshold)
        raise NotEnoughSharesError(
            len(complete),
            first.group_threshold,
            "counting complete SLIP-39 groups, not shares",
        )
    chosen_groups = sorted(complete)[: first.group_threshold]
    selected: list[Slip39Share] = []
    extra: list[tuple[list[Slip39Share], Slip39Share]] = []
    for g in chosen_groups:
        members = complete[g]
        need = members[0].member_threshold
        base = members[:need]
        selected.extend(base)
        extra.extend((base, s) for s in members[need:])
    ems = _recover(selected)
    culprits: list[str] = []
    for base, candidate in extra:
        swapped = [candidate if s is base[0] else s for s in selected]
        try:
            other = _recover(swapped)
        except InconsistentSharesError:
            culprits.append(candidate.source)
            continue
        if not hmac.compare_digest(other.ciphertext, ems.ciphertext):
            culprits.append(candidate.source)
    if culprits:
        raise InconsistentSharesError(
            f"SLIP-39 shares beyond the threshold disagree with the others: {', '.join(culprits)}",
            culprits,
        )
    unused = [s.source for s in unique if s.group_index not in chosen_groups]
    for source in unused:
        rejected[source] = "group not needed (group threshold already met)"
    try:
        secret = bytearray(ems.decrypt(bytes(passphrase)))
    except (MnemonicError, ValueError) as exc:
        raise InconsistentSharesError(f"SLIP-39 decryption failed: {exc}") from None
    # A digest is checked at every level whose threshold is at least 2.
    verified = first.group_threshold >= 2 or all(
        complete[g][0].member_threshold >= 2 for g in chosen_groups
    )
    warnings: list[str] = []
    if verified:
        warnings.append(
            "SLIP-39's digest matched: the shares belong together and interpolate to the "
            "encrypted secret they were made from. It cannot check the passphrase: a wrong "
            "passphrase gives a different secret without an error."
        )
    else:
        warnings.append(
            "a SLIP-39 threshold of 1 carries no digest: the secret cannot be verified, and "
            "a wrong passphrase gives a different secret without an error."
        )
    if extra:
        warnings.append(
            f"{len(extra)} share(s) beyond the threshold were checked and agree with the others."
        )
    return CombineResult(
        secret=SecretBuffer.adopt(secret),
        verified=verified,
        used=[s.source for s in unique if s.group_index in chosen_groups],
        rejected=rejected,
        warnings=warnings,
    )


# --- share files ---------------------------------------------------------------------------


def _split_with(
    secret: bytearray, threshold: int, count: int, options: ForeignOptions
) -> list[str]:
    return split(
        secret,
        threshold,
        count,
        passphrase=options.slip39_passphrase,
        iteration_exponent=options.slip39_iteration_exponent,
    )


def _combine_with(
    shares: Sequence[Slip39Share], options: ForeignOptions, threshold: int | None
) -> CombineResult:
    return combine(shares, passphrase=options.slip39_passphrase)


def _facts(share: Slip39Share, facts: ShareFacts) -> None:
    facts.index = share.index
    facts.set_id = f"{share.identifier:04x}"
    facts.threshold = share.member_threshold
    facts.checksum = "ok"  # parse verified the RS1024 checksum


FORMAT: TextFormat[Slip39Share] = TextFormat(
    FORMAT_NAME,
    looks_like=looks_like,
    parse=parse,
    split=_split_with,
    combine=_combine_with,
    facts=_facts,
)
"""SLIP-39 mnemonic files (``<stem>.slip39-NNN.txt``) as a :class:`PeerFormat`."""
