"""Laws and failure modes of the native share format."""

from __future__ import annotations

import io
import itertools
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcr_kit.errors import ExitCode, IntegrityError, TcrError
from tcr_kit.secrets import random_source
from tcr_kit.sharing import native, textcode
from tcr_kit.sharing.errors import (
    AmbiguousSetsError,
    ForeignShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareChecksumError,
    ShareError,
    UnknownFormatError,
)
from tcr_kit.sharing.gf256 import field
from tcr_kit.sharing.stream import SplitKernel


def recover(shares: list[native.NativeShare]) -> bytes:
    result = native.combine_shares(shares)
    try:
        return bytes(result.secret.view())
    finally:
        result.secret.wipe()


def forge(share: native.NativeShare, position: int, xor: int = 1) -> native.NativeShare:
    """Flip bits at ``position`` of the body and recompute the CRC, as an attacker would."""
    body = bytearray(share.body())
    body[position] ^= xor
    body[-4:] = struct.pack(">I", zlib.crc32(bytes(body[:-4])))
    return native.decode_share(native.MAGIC + bytes(body), f"forged {share.source}")


@settings(max_examples=40, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=80),
    count=st.integers(1, 8),
    data=st.data(),
)
def test_any_threshold_shares_recover_the_secret(
    secret: bytes, count: int, data: st.DataObject
) -> None:
    threshold = data.draw(st.integers(1, count))
    shares = native.split_bytes(secret, threshold, count)
    subset = data.draw(st.permutations(shares))[: data.draw(st.integers(threshold, count))]
    assert recover(list(subset)) == secret


@settings(max_examples=25, deadline=None)
@given(secret=st.binary(min_size=1, max_size=32), count=st.integers(2, 7), data=st.data())
def test_fewer_than_threshold_shares_give_quorum_error(
    secret: bytes, count: int, data: st.DataObject
) -> None:
    threshold = data.draw(st.integers(2, count))
    shares = native.split_bytes(secret, threshold, count)
    few = data.draw(st.integers(1, threshold - 1))
    with pytest.raises(NotEnoughSharesError) as info:
        native.combine_shares(shares[:few])
    assert info.value.exit_code == ExitCode.QUORUM
    assert f"{threshold - few} more share" in str(info.value)


def test_text_and_compact_forms_decode_to_the_same_share() -> None:
    share = native.split_bytes(b"pin 123456", 2, 3, label="HSM-A activation")[1]
    from_text = native.decode_share(share.encode_text().lower(), "t")
    assert from_text.encode_compact() == share.encode_compact()
    assert from_text.label == "HSM-A activation"
    assert (from_text.index, from_text.threshold, from_text.count) == (2, 2, 3)
    assert from_text.secret_length == 10


def test_every_single_symbol_typo_in_text_form_is_caught() -> None:
    share = native.split_bytes(b"0123456789abcdef", 3, 5, label="L")[2]
    symbols = textcode.normalize(share.encode_text())
    for position in range(len(symbols)):
        for replacement in textcode.ALPHABET:
            if replacement == symbols[position]:
                continue
            typo = symbols[:position] + replacement + symbols[position + 1 :]
            with pytest.raises((ShareChecksumError, UnknownFormatError)):
                native.decode_share(typo, "typo")


def test_every_adjacent_swap_in_text_form_is_caught() -> None:
    share = native.split_bytes(b"swap-me", 2, 2)[0]
    symbols = textcode.normalize(share.encode_text())
    for position in range(len(symbols) - 1):
        a, b = symbols[position], symbols[position + 1]
        if a == b:
            continue
        swapped = symbols[:position] + b + a + symbols[position + 2 :]
        with pytest.raises((ShareChecksumError, UnknownFormatError)):
            native.decode_share(swapped, "swap")


def test_random_corruption_of_compact_share_is_named() -> None:
    shares = native.split_bytes(b"a secret", 3, 4)
    compact = bytearray(shares[1].encode_compact())
    compact[20] ^= 0x40
    with pytest.raises(ShareChecksumError, match="share-two"):
        native.decode_share(bytes(compact), "share-two")


def test_forged_share_with_valid_checksum_never_yields_a_wrong_secret() -> None:
    secret = b"never-wrong"
    shares = native.split_bytes(secret, 3, 5, label="x")
    body_length = len(shares[2].body())
    for position in range(body_length - 4):
        try:
            forged = forge(shares[2], position)
            got = recover([shares[0], shares[1], forged])
        except IntegrityError:
            continue
        assert got == secret  # only reachable if the flip was not in used data


def test_forged_share_is_named_when_a_spare_share_is_present() -> None:
    secret = b"spare"
    shares = native.split_bytes(secret, 3, 5)
    for position in (2, 12, 20, 32, 50):  # set id, index, kshare, payload, tag
        forged = forge(shares[3], position)
        result = native.combine_shares([shares[0], forged, shares[1], shares[4]])
        assert bytes(result.secret.view()) == secret
        assert list(result.rejected) == [forged.source]


def test_m_inconsistent_shares_without_spare_are_refused_not_guessed() -> None:
    shares = native.split_bytes(b"abc", 2, 3)
    forged = forge(shares[1], 31)  # a payload byte
    with pytest.raises(InconsistentSharesError) as info:
        native.combine_shares([shares[0], forged])
    assert info.value.exit_code == ExitCode.INTEGRITY
    assert "one more share" in str(info.value)


def test_two_bad_of_five_are_both_named_and_secret_recovered() -> None:
    secret = bytes(range(40))
    shares = native.split_bytes(secret, 3, 5)
    bad1, bad2 = forge(shares[0], 45), forge(shares[3], 20)  # payload, integrity-key share
    result = native.combine_shares([bad1, shares[1], shares[2], bad2, shares[4]])
    assert bytes(result.secret.view()) == secret
    assert set(result.rejected) == {bad1.source, bad2.source}


def test_share_from_another_set_is_named_foreign() -> None:
    ours = native.split_bytes(b"ours", 2, 3)
    theirs = native.split_bytes(b"ours", 2, 3)
    with pytest.raises(ForeignShareError) as info:
        native.combine_shares([ours[0], theirs[1]])
    assert info.value.exit_code == ExitCode.INTEGRITY
    assert theirs[1].source in str(info.value)
    result = native.combine_shares([ours[0], theirs[1], ours[2]])
    assert bytes(result.secret.view()) == b"ours"
    assert "belongs to share set" in result.rejected[theirs[1].source]


def test_duplicate_share_counts_once() -> None:
    shares = native.split_bytes(b"dup", 2, 3)
    copy = native.decode_share(shares[0].encode_compact(), "copy of 1")
    with pytest.raises(NotEnoughSharesError):
        native.combine_shares([shares[0], copy])
    result = native.combine_shares([shares[0], copy, shares[2]])
    assert bytes(result.secret.view()) == b"dup"
    assert any("same share" in w for w in result.warnings)


def test_threshold_one_is_allowed_with_a_warning() -> None:
    shares = native.split_bytes(b"solo", 1, 3)
    result = native.combine_shares([shares[2]])
    assert bytes(result.secret.view()) == b"solo"
    assert any("threshold 1" in w for w in result.warnings)


def test_split_rejects_bad_parameters_and_empty_secret() -> None:
    with pytest.raises(ValueError):
        native.split_bytes(b"x", 4, 3)
    with pytest.raises(ValueError):
        native.split_bytes(b"x", 1, 256)
    with pytest.raises(TcrError):
        native.split_bytes(b"", 2, 3)


def test_split_is_deterministic_under_a_fixed_random_source() -> None:
    def source(n: int) -> bytes:
        return bytes((i * 7 + 3) & 0xFF for i in range(n))

    with random_source(source):
        a = [s.encode_compact() for s in native.split_bytes(b"vector", 2, 3)]
    with random_source(source):
        b = [s.encode_compact() for s in native.split_bytes(b"vector", 2, 3)]
    assert a == b


def test_streamed_multi_chunk_secret_round_trips_with_odd_length() -> None:
    rng = random.Random(1)
    secret = rng.randbytes(3 * (1 << 20) + 7)
    sinks = [io.BytesIO() for _ in range(4)]
    manifest = native.split_stream(io.BytesIO(secret), 3, 4, sinks, chunk_size=1 << 20)
    assert manifest.secret_length == len(secret)
    shares = [native.decode_share(s.getvalue(), f"s{i}") for i, s in enumerate(sinks, 1)]
    out = io.BytesIO()
    native.combine_stream([shares[3], shares[0], shares[2]], out)
    assert out.getvalue() == secret


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_decoder_raises_only_project_errors_on_garbage(data: bytes | str) -> None:
    try:
        native.decode_share(data, "fuzz")
    except TcrError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_decoder_raises_only_project_errors_on_mutated_shares(data: st.DataObject) -> None:
    share = native.split_bytes(b"fuzz target", 2, 3, label="lbl")[0]
    body = bytearray(native.MAGIC + share.body())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(body) - 1))
        body[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    try:
        decoded = native.decode_share(bytes(body[:cut]), "mutant")
    except TcrError:
        return
    assert decoded.encode_compact() == bytes(body[:cut])


@pytest.mark.parametrize("threshold,count", [(2, 3), (3, 4), (3, 5)])
def test_fewer_than_threshold_shares_are_independent_of_a_one_byte_secret(
    threshold: int, count: int
) -> None:
    """Exhaustive: over every choice of randomness, the joint distribution of any m-1
    shares is uniform, whatever the secret byte."""
    kernel = SplitKernel(field(), list(range(1, count + 1)), threshold)
    k = threshold - 1
    # Every possible tuple of k random bytes, one tuple per position of the chunk.
    grid = np.array(list(itertools.product(range(256), repeat=k)), dtype=np.uint8)
    randoms = [np.ascontiguousarray(grid[:, i]) for i in range(k)]
    for secret_byte in (0x00, 0x01, 0x5A, 0xFF):
        shares = kernel.process(bytes([secret_byte]) * len(grid), [r.copy() for r in randoms])
        for subset in itertools.combinations(range(count), k):
            joint = np.zeros(len(grid), dtype=np.int64)
            for i in subset:
                joint = joint * 256 + shares[i]
            # Uniform whatever the secret: each of the 256^k tuples appears exactly once.
            assert np.array_equal(np.bincount(joint, minlength=256**k), np.ones(256**k))


def test_two_complete_sets_are_ambiguous_unless_one_is_chosen() -> None:
    first = native.split_bytes(b"first", 2, 3)
    second = native.split_bytes(b"second", 2, 3)
    mixed = [second[0], first[0], first[1], second[2]]
    with pytest.raises(AmbiguousSetsError) as info:
        native.combine_shares(mixed)
    assert info.value.exit_code == ExitCode.INTEGRITY
    assert set(info.value.set_ids) == {first[0].set_id_hex, second[0].set_id_hex}
    for chosen, secret in ((first, b"first"), (second, b"second")):
        out = bytearray()
        result = native.combine_stream(mixed, out.extend, set_id=chosen[0].set_id)
        assert result.verified and bytes(out) == secret
    one_complete = [second[0], first[0], first[1]]  # the other set is incomplete: no doubt
    assert bytes(native.combine_shares(one_complete).secret.view()) == b"first"


# --- what a refused share says, and shares read from their files -------------------------------


def test_input_that_is_not_a_share_is_named_by_its_source_or_as_input() -> None:
    limit = native.TEXT_SIZE_LIMIT
    for source, name in (("", "input"), ("s1.txt", "s1.txt")):
        for data in (b"\xff\xfe not ascii", b"plain text", "plain text"):
            with pytest.raises(UnknownFormatError) as other:
                native.decode_share(data, source)
            assert str(other.value) == f"{name}: not a tcr-kit native share"
        for big in (b"T" * (limit + 1), "T" * (limit + 1)):
            with pytest.raises(UnknownFormatError) as large:
                native.decode_share(big, source)
            assert str(large.value) == f"{name}: too large for a text share (more than 64 MiB)"
        with pytest.raises(ShareChecksumError) as bad:
            native.decode_share("TCRS 0123U", source)
        assert bad.value.source == source
        assert bad.value.reason.startswith("not valid share text: character 5 ('U')")


def test_text_of_exactly_the_size_limit_is_decoded_not_refused_as_too_large() -> None:
    # The limit is "more than 64 MiB": 64 MiB itself is looked at (and is not a share).
    with pytest.raises(UnknownFormatError, match=r"^input: not a tcr-kit native share$"):
        native.decode_share(b"T" * native.TEXT_SIZE_LIMIT)


def _compact_with_valid_crc(body: bytes) -> bytes:
    return native.MAGIC + body + struct.pack(">I", zlib.crc32(body))


def test_a_short_or_malformed_compact_share_names_its_source_and_fault_exactly() -> None:
    share = native.split_bytes(b"k", 2, 3)[0]
    body = share.body()
    shortest = len(body)  # a 1-byte secret: the smallest share there is
    with pytest.raises(ShareError) as short:
        native.decode_share(_compact_with_valid_crc(body[: shortest - 5]), "s.bin")
    assert (short.value.source, short.value.reason) == ("s.bin", "truncated share")
    typo = bytearray(share.encode_compact())
    typo[20] ^= 1
    with pytest.raises(ShareChecksumError) as crc:
        native.decode_share(bytes(typo), "s.bin")
    assert str(crc.value) == "s.bin: checksum mismatch: the share was mistyped or corrupted"
    version = _compact_with_valid_crc(b"\x02" + body[1:-4])
    with pytest.raises(ShareError) as head:
        native.decode_share(version, "s.bin")
    assert str(head.value) == "s.bin: unsupported native format version 2"
    longer = bytearray(body[:-4])
    longer[-24:-16] = struct.pack(">Q", 2)  # the recorded secret length: 2, not 1
    with pytest.raises(ShareError) as trailer:
        native.decode_share(_compact_with_valid_crc(bytes(longer)), "s.bin")
    assert trailer.value.source == "s.bin"
    assert trailer.value.reason == "share length does not match its recorded secret length"


def test_a_compact_share_file_is_read_from_the_file_like_the_same_share_in_memory(
    tmp_path: Path,
) -> None:
    shares = native.split_bytes(b"a secret read back from files", 2, 3, label="files")
    paths = []
    for share in shares:
        path = tmp_path / f"share-{share.index}.bin"
        path.write_bytes(share.encode_compact())
        paths.append(path)
    opened = [native.open_share_file(p) for p in paths]
    for share, from_file in zip(shares, opened, strict=True):
        assert from_file.crc_ok() and from_file.check() is None
        assert from_file.body() == share.body()
        assert from_file.encode_compact() == share.encode_compact()
        assert from_file.digest() == share.digest()
        assert from_file.payload_digest == share.payload_digest
        assert from_file.tag_input() == share.tag_input()
        fd = from_file.open_fd()
        assert fd is not None
        try:
            assert from_file.read_payload(fd, 2, 5) == share.read_payload(None, 2, 5)
        finally:
            os.close(fd)
    assert recover(opened[1:]) == b"a secret read back from files"
    damaged = bytearray(paths[0].read_bytes())
    damaged[30] ^= 1
    paths[0].write_bytes(bytes(damaged))
    assert not native.open_share_file(paths[0]).crc_ok()
