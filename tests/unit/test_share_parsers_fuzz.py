"""Fuzzing every share parser: whatever the input, no traceback and no exception but ours.

Each parser gets random inputs and, more usefully, valid shares with random damage (bytes
flipped, inserted, deleted, truncated, words swapped). Accepted outcomes: a parsed share, or
an error of tcr-kit's own :class:`~tcr_kit.errors.TcrError` family. For the native format a
damaged share combined with good ones must also never give a wrong secret.

The normal test run is a short, bounded run (a few seconds in all). ``scripts/fuzz.sh`` runs
the same harness long: ``TCR_FUZZ_EXAMPLES`` sets the examples per parser (e.g. 100000).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcr_kit.errors import TcrError
from tcr_kit.sharing import dispatch, native, textcode
from tcr_kit.sharing.formats import gfshare, slip39, ssss, vault
from tests.fuzz.progress import counted

EXAMPLES = int(os.environ.get("TCR_FUZZ_EXAMPLES", "0") or 0)
"""Examples per parser: 0 means the short run of the normal test suite."""

fuzz = settings(
    max_examples=EXAMPLES or 40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SECRET = b"activation PIN 0042"
NATIVE = native.split_bytes(SECRET, 2, 3, label="KSK-2026")
COMPACT = [s.encode_compact() for s in NATIVE]
TEXT = [s.encode_text() for s in NATIVE]
SSSS = ssss.split(SECRET, 2, 3, token="ksk")
VAULT = vault.split(SECRET, 2, 3)
VAULT_HEX = vault.split(SECRET, 2, 3, encoding="hex")
SLIP39 = slip39.split(SECRET[:16], 2, 3)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tcr-fuzz-") as folder:
        yield Path(folder)


def _mutate(data: bytes, edits: list[tuple[int, int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for kind, position, value in edits:
        at = position % (len(out) + 1)
        if kind == 0 and at < len(out):
            out[at] ^= value or 1
        elif kind == 1:
            out[at:at] = bytes([value])
        elif kind == 2 and at < len(out):
            del out[at]
        elif kind == 3 and at < len(out):
            out[at] = value
    if cut is not None:
        del out[cut % (len(out) + 1) :]
    return bytes(out)


_edits = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6
)


def damaged(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    """A valid share with random damage, or random bytes."""
    mutated = st.builds(_mutate, st.sampled_from(valid), _edits, st.none() | st.integers(0))
    return st.one_of(mutated, mutated, st.binary(max_size=512))


def damaged_text(valid: list[str]) -> st.SearchStrategy[str]:
    """A valid text share with random damage (as text), or random text."""
    as_bytes = [v.encode() for v in valid]
    mutated = damaged(as_bytes).map(lambda b: b.decode("utf-8", errors="replace"))
    words = st.builds(_swap_words, st.sampled_from(valid), st.lists(st.text(max_size=12)))
    return st.one_of(mutated, words, st.text(max_size=300))


def _swap_words(text: str, replacements: list[str]) -> str:
    words = text.split()
    for i, word in enumerate(replacements):
        if words:
            words[(i * 7) % len(words)] = word
    return " ".join(words)


def ours_or_nothing(call: Callable[[], object], *, one_line: bool = True) -> object:
    """Run ``call``; an exception outside tcr-kit's family fails the test (by escaping).

    Our errors are one line (unless they quote a fuzzed file name, ``one_line=False``).
    """
    try:
        return call()
    except TcrError as exc:
        assert str(exc), repr(exc)
        assert not one_line or "\n" not in str(exc).strip(), repr(exc)
        return None


# --- native ---------------------------------------------------------------------------


@fuzz
@given(damaged(COMPACT))
@counted
def test_native_compact_parser(data: bytes) -> None:
    ours_or_nothing(lambda: native.decode_share(data, "fuzzed"))


@fuzz
@given(damaged_text(TEXT))
@counted
def test_native_text_parser(text: str) -> None:
    ours_or_nothing(lambda: native.decode_share(text, "fuzzed"))
    ours_or_nothing(lambda: native.decode_share(text.encode("utf-8"), "fuzzed"))


@fuzz
@given(st.text(max_size=400))
@counted
def test_text_codec_raises_only_its_decode_error(text: str) -> None:
    try:
        data = textcode.decode(text)
    except textcode.DecodeError:
        return
    assert textcode.decode(textcode.encode(data)) == data


@fuzz
@given(data=damaged(COMPACT + [t.encode() for t in TEXT]))
@counted
def test_native_share_files_and_inspect(scratch: Path, data: bytes) -> None:
    path = scratch / "share.tcrs"
    path.write_bytes(data)
    ours_or_nothing(lambda: native.open_share_file(path).check())
    facts = dispatch.inspect_file(path)  # never raises: errors are in the facts
    assert facts.exit_code in {0, 1, 2, 3, 4}


@fuzz
@given(damaged(COMPACT), st.integers(0, 2))
@counted
def test_a_damaged_native_share_never_gives_a_wrong_secret(data: bytes, which: int) -> None:
    share = ours_or_nothing(lambda: native.decode_share(data, "fuzzed"))
    if not isinstance(share, native.NativeShare):
        return
    others = [s for i, s in enumerate(NATIVE) if i != which]
    for group in ([share, others[0]], [share, *others]):
        result = ours_or_nothing(lambda group=group: native.combine_shares(group))  # type: ignore[misc]
        if result is not None:
            with result.secret as secret:  # type: ignore[attr-defined]
                assert bytes(secret.view()) == SECRET


# --- peer formats ---------------------------------------------------------------------


@fuzz
@given(damaged_text(SSSS), st.integers(2, 3))
@counted
def test_ssss_parser_and_combine(text: str, threshold: int) -> None:
    share = ours_or_nothing(lambda: ssss.parse(text, "fuzzed"))
    ssss.looks_like(text)
    if isinstance(share, ssss.SsssShare):
        good = [ssss.parse(s, f"good {i}") for i, s in enumerate(SSSS)]
        ours_or_nothing(lambda: ssss.combine([share, good[1]], threshold=threshold).secret.wipe())


@fuzz
@given(damaged_text(VAULT + VAULT_HEX))
@counted
def test_vault_parser_and_combine(text: str) -> None:
    share = ours_or_nothing(lambda: vault.parse(text, "fuzzed"))
    vault.looks_like(text)
    if isinstance(share, vault.VaultShare):
        good = [vault.parse(s, f"good {i}") for i, s in enumerate(VAULT)]
        ours_or_nothing(lambda: vault.combine([share, good[1]]).secret.wipe())


@fuzz
@given(damaged_text(SLIP39))
@counted
def test_slip39_parser_and_combine(text: str) -> None:
    share = ours_or_nothing(lambda: slip39.parse(text, "fuzzed"))
    slip39.looks_like(text)
    if isinstance(share, slip39.Slip39Share):
        good = [slip39.parse(s, f"good {i}") for i, s in enumerate(SLIP39)]
        ours_or_nothing(lambda: slip39.combine([share, good[1]]).secret.wipe())


@fuzz
@given(st.text(max_size=40), st.binary(max_size=64))
@counted
def test_gfshare_names_and_files(scratch: Path, name: str, content: bytes) -> None:
    ours_or_nothing(lambda: gfshare.index_from_name(name), one_line=False)
    gfshare.looks_like_path(name)
    first, second = scratch / "s.001", scratch / "s.002"
    first.write_bytes(content)
    second.write_bytes(bytes(reversed(content)))
    sink = dispatch.SecretSink()
    with sink:
        ours_or_nothing(lambda: gfshare.combine_paths([first, second], sink, threshold=2))  # type: ignore[arg-type]


@fuzz
@given(data=damaged([s.encode() for s in SSSS + VAULT + SLIP39]))
@counted
def test_peer_share_files_through_detection_and_inspect(scratch: Path, data: bytes) -> None:
    path = scratch / "peer-share.txt"
    path.write_bytes(data)
    facts = dispatch.inspect_file(path)
    assert facts.exit_code in {0, 1, 2, 3, 4}
    ours_or_nothing(lambda: dispatch.detect_set([path]))
