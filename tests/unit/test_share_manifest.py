"""Signed share-set manifests and extended sets: the laws, and every refusal."""

from __future__ import annotations

import itertools
import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcr_kit.audit.signing import SignatureInvalid, SoftwareEd25519Signer
from tcr_kit.custody.share_manifests import check_share_alone, sign_manifest, verify_manifest
from tcr_kit.errors import ExitCode, InputError, IntegrityError
from tcr_kit.sharing import native
from tcr_kit.sharing.errors import (
    ForeignShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareChecksumError,
    ShareError,
)
from tcr_kit.sharing.manifest import (
    ManifestEntry,
    ShareManifest,
    check_share,
    parse_manifest,
)
from tcr_kit.sharing.native_extend import (
    IndexInUseError,
    extend_bytes,
    extend_to_dir,
    plan_indices,
)
from tcr_kit.sharing.stream import CHUNK_SIZE, select_kernel

SPLITTER = SoftwareEd25519Signer.generate()
EXTENDER = SoftwareEd25519Signer.generate()


def recover(shares: list[native.NativeShare]) -> bytes:
    result = native.combine_shares(shares)
    try:
        return bytes(result.secret.view())
    finally:
        result.secret.wipe()


def manifest_of(shares: list[native.NativeShare]) -> ShareManifest:
    """The signed manifest of a fresh split, as `tcr shares split` + `sign` make it."""
    h = shares[0].header
    record = native.SplitManifest(
        h.set_id, h.threshold, h.count, h.secret_length, h.label, [s.digest() for s in shares]
    ).record()
    return sign_manifest(parse_manifest(native.canonical_json(record)), SPLITTER, "sa-1")


def forge(share: native.NativeShare, position: int) -> native.NativeShare:
    """Flip a bit of the body and recompute the CRC, as an attacker would."""
    body = bytearray(share.body())
    body[position] ^= 1
    body[-4:] = struct.pack(">I", zlib.crc32(bytes(body[:-4])))
    return native.decode_share(native.MAGIC + bytes(body), f"forged {share.source}")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret=st.binary(min_size=1, max_size=64),
    count=st.integers(1, 6),
    extra=st.integers(1, 4),
    data=st.data(),
)
def test_any_threshold_shares_of_an_extended_set_recover_the_secret(
    secret: bytes, count: int, extra: int, data: st.DataObject
) -> None:
    threshold = data.draw(st.integers(1, count))
    shares = native.split_bytes(secret, threshold, count)
    basis = data.draw(st.permutations(shares))[: data.draw(st.integers(threshold, count))]
    new = extend_bytes(list(basis), plan_indices(shares, count=extra))
    assert [s.index for s in new] == list(range(count + 1, count + extra + 1))
    everything = shares + new
    for subset in itertools.combinations(everything, threshold):
        assert recover(list(subset)) == secret
    # All of them together pass the set's integrity check: nothing is rejected.
    selection = native.select_shares(everything)
    assert selection.rejected == {}
    assert len(selection.verified) == len(everything)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=st.binary(min_size=1, max_size=32), data=st.data())
def test_a_set_extended_twice_from_mixed_old_and_new_shares_stays_one_set(
    secret: bytes, data: st.DataObject
) -> None:
    count = data.draw(st.integers(2, 5))
    threshold = data.draw(st.integers(2, count))
    shares = native.split_bytes(secret, threshold, count)
    first = extend_bytes(shares[:threshold], plan_indices(shares, count=2))
    pool = shares + first
    basis = data.draw(st.permutations(pool))[:threshold]
    second = extend_bytes(list(basis), plan_indices(pool, count=1))
    assert second[0].index == count + 3 and second[0].count == count + 3
    everything = pool + second
    subset = data.draw(st.permutations(everything))[:threshold]
    assert recover(list(subset)) == secret
    assert native.select_shares(everything).rejected == {}


@settings(max_examples=15, deadline=None)
@given(secret=st.binary(min_size=1, max_size=40), data=st.data())
def test_a_share_of_another_set_is_refused_by_check(secret: bytes, data: st.DataObject) -> None:
    count = data.draw(st.integers(1, 5))
    threshold = data.draw(st.integers(1, count))
    ours = native.split_bytes(secret, threshold, count)
    theirs = native.split_bytes(secret, threshold, count)  # same secret, other set
    stranger = data.draw(st.sampled_from(theirs))
    with pytest.raises(ForeignShareError) as info:
        check_share(manifest_of(ours), stranger)
    assert info.value.exit_code == ExitCode.INTEGRITY
    assert f"belongs to share set {stranger.set_id_hex}" in str(info.value)


@settings(max_examples=25, deadline=None)
@given(secret=st.binary(min_size=1, max_size=40), data=st.data())
def test_an_altered_share_is_refused_by_check(secret: bytes, data: st.DataObject) -> None:
    shares = native.split_bytes(secret, 2, 3, label="HSM-A")
    manifest = manifest_of(shares)
    victim = data.draw(st.sampled_from(shares))
    # Anywhere in the kshare, payload or tag: fields the header check does not see.
    size = len(victim.body())
    kshare_to_payload = range(14 + len(victim.label), size - 28)
    tag = range(size - 20, size - 4)
    position = data.draw(st.sampled_from([*kshare_to_payload, *tag]))
    with pytest.raises(ShareError, match="altered or substituted") as info:
        check_share(manifest, forge(victim, position))
    assert info.value.exit_code == ExitCode.INTEGRITY


def test_a_mistyped_share_fails_its_own_checksum_first() -> None:
    shares = native.split_bytes(b"pin 2468", 2, 3)
    body = bytearray(shares[1].body())
    body[20] ^= 4
    typo = native.NativeShare(shares[1].header, "typo", data=bytes(body))
    with pytest.raises(ShareChecksumError):
        check_share(manifest_of(shares), typo)


def test_a_share_at_an_index_the_manifest_does_not_list_is_refused() -> None:
    shares = native.split_bytes(b"pin 2468", 2, 3)
    new = extend_bytes(shares[:2], [4])[0]
    with pytest.raises(ShareError, match="index 4 is not in the manifest"):
        check_share(manifest_of(shares), new)


def test_check_share_alone_says_whether_the_signer_was_checked() -> None:
    shares = native.split_bytes(b"pin 2468", 2, 3)
    manifest = manifest_of(shares)
    with pytest.raises(IntegrityError, match="signer was NOT checked"):
        check_share_alone(shares[2], manifest)
    alone = check_share_alone(shares[2], manifest, self_signed_only=True)
    assert alone.signer_checked is False and alone.entry.index == 3
    assert "signer NOT checked" in alone.describe()[1]
    checked = check_share_alone(
        shares[2], manifest, expected_public_key=SPLITTER.public_key_bytes()
    )
    assert checked.signer_checked is True
    with pytest.raises(IntegrityError, match="not by the expected key"):
        check_share_alone(shares[2], manifest, expected_public_key=EXTENDER.public_key_bytes())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("threshold", 1),
        ("label", "another label"),
        ("signed_at", "2030-01-01T00:00:00Z"),
        ("shares", "swap two digests"),
        ("signer", "another id"),
    ],
)
def test_the_manifest_signature_covers_every_field(field: str, value: object) -> None:
    manifest = manifest_of(native.split_bytes(b"pin 2468", 2, 3))
    doc = json.loads(manifest.to_bytes())
    if field == "shares":
        doc["shares"][0]["sha256"], doc["shares"][1]["sha256"] = (
            doc["shares"][1]["sha256"],
            doc["shares"][0]["sha256"],
        )
    elif field == "signer":
        doc["signer"]["id"] = "mallory"
    else:
        doc[field] = value
    altered = parse_manifest(json.dumps(doc).encode())
    with pytest.raises(SignatureInvalid) as info:
        verify_manifest(altered)
    assert info.value.exit_code == ExitCode.INTEGRITY


def test_a_manifest_round_trips_through_its_file_and_an_unsigned_one_is_refused() -> None:
    shares = native.split_bytes(b"pin 2468", 2, 3)
    manifest = manifest_of(shares)
    again = parse_manifest(manifest.to_bytes())
    assert again == manifest and again.signing_digest() == manifest.signing_digest()
    verify_manifest(again, SPLITTER.public_key_bytes())
    unsigned = manifest.model_copy(update={"signer": None, "signed_at": None, "signature": None})
    with pytest.raises(IntegrityError, match="not signed"):
        verify_manifest(unsigned)
    with pytest.raises(InputError, match="signed already"):
        sign_manifest(manifest, SPLITTER, "sa-1")


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", b'{"manifest": "something else"}', b'{"manifest": "tcr-kit share set"}'],
)
def test_what_is_not_a_manifest_is_bad_input(data: bytes) -> None:
    with pytest.raises(InputError) as info:
        parse_manifest(data, "m.json")
    assert info.value.exit_code == ExitCode.USAGE


def test_extend_refuses_shares_of_two_sets() -> None:
    ours = native.split_bytes(b"pin 2468", 2, 3)
    theirs = native.split_bytes(b"pin 2468", 2, 3)
    with pytest.raises(ForeignShareError, match="more than one set") as info:
        extend_bytes([ours[0], ours[1], theirs[2]], [4])
    assert info.value.exit_code == ExitCode.INTEGRITY


def test_extend_refuses_fewer_than_threshold_shares() -> None:
    shares = native.split_bytes(b"pin 2468", 3, 5)
    with pytest.raises(NotEnoughSharesError) as info:
        extend_bytes(shares[:2], [6])
    assert info.value.exit_code == ExitCode.QUORUM


@pytest.mark.parametrize("index", [1, 3, 5])
def test_extend_refuses_an_index_already_issued(index: int) -> None:
    shares = native.split_bytes(b"pin 2468", 2, 5)
    with pytest.raises(IndexInUseError) as info:
        extend_bytes(shares[:2], [index])
    assert info.value.exit_code == ExitCode.INTEGRITY
    # An extended share's count byte keeps its indices used for later extensions too.
    later = extend_bytes(shares[:2], [6])
    with pytest.raises(IndexInUseError):
        plan_indices(later, indices=[6])
    assert plan_indices(later[:1], count=2) == [7, 8]


def test_extend_refuses_a_forged_share_even_with_enough_good_ones() -> None:
    shares = native.split_bytes(b"pin 2468", 2, 4)
    with pytest.raises(InconsistentSharesError, match="do not all verify"):
        extend_bytes([shares[0], shares[1], forge(shares[2], 31)], [5])


def test_extend_beyond_255_indices_is_bad_input() -> None:
    shares = native.split_bytes(b"pin", 2, 250)
    with pytest.raises(InputError, match="at most 5 more"):
        plan_indices(shares, count=6)
    assert plan_indices(shares, count=5)[-1] == 255


@pytest.mark.parametrize("kernel", ["isa-l", "numpy"])
def test_extension_streams_files_across_chunks_on_either_kernel(
    tmp_path: Path, kernel: str
) -> None:
    from tcr_kit.sharing.stream import kernel_name

    select_kernel(kernel)
    try:
        assert kernel_name() == kernel
        secret = bytes(range(256)) * (CHUNK_SIZE // 256) + b"tail of the secret"
        shares = native.split_bytes(secret, 3, 4)
        paths = []
        for s in shares:
            path = tmp_path / f"big.bin.share-{s.index:03d}.tcrs"
            path.write_bytes(s.encode_compact())
            paths.append(path)
        files = [native.open_share_file(p) for p in paths]
        manifest = manifest_of(files)
        outcome = extend_to_dir(paths[1:], [5, 6], tmp_path, "big.bin", encoding="compact")
        assert [p.name for p in outcome.paths] == [
            "big.bin.share-005.tcrs",
            "big.bin.share-006.tcrs",
        ]
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in outcome.paths)
        new = [native.open_share_file(p) for p in outcome.paths]
        assert [s.digest() for s in new] == outcome.digests
        assert recover([new[0], new[1], files[0]]) == secret
        # The next revision lists them and a lone check accepts them.
        added = [
            ManifestEntry(index=x, sha256=d.hex(), file=p.name)
            for x, d, p in zip(outcome.indices, outcome.digests, outcome.paths, strict=True)
        ]
        revised = sign_manifest(manifest.next_revision(added, {5: 2}), EXTENDER, "ca-1")
        assert check_share(revised, new[1]).index == 6
        assert revised.previous_sha256 == manifest.signing_digest().hex()
        assert [(s.index, s.replaces) for s in revised.new_shares] == [(5, 2), (6, None)]
    finally:
        select_kernel(None)


def test_extend_to_dir_writes_nothing_when_finish_refuses(tmp_path: Path) -> None:
    shares = native.split_bytes(b"pin 2468", 2, 3)
    paths = []
    for s in shares:
        path = tmp_path / f"pin.share-{s.index:03d}.txt"
        path.write_text(s.encode_text() + "\n")
        paths.append(path)

    def refuse(written: list[tuple[int, bytes, str]]) -> list[bytes]:
        raise IntegrityError("the ledger said no")

    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(IntegrityError, match="the ledger said no"):
        extend_to_dir(paths[:2], [4], tmp_path, "pin", extra_paths=[tmp_path / "m.json"],
                      finish=refuse)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == before
