"""Jobs on share files of any format, at library level: detect, split, combine, inspect."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from tcr_kit.errors import ExitCode, FileExistsRefused, InputError
from tcr_kit.sharing import dispatch, files
from tcr_kit.sharing.errors import NotEnoughSharesError, ShareChecksumError
from tcr_kit.sharing.formats import ForeignOptions

SECRET = bytes(range(7, 39))


def _split(fmt: str, out: Path, m: int = 2, n: int = 3, **kw: object) -> list[Path]:
    out.mkdir(exist_ok=True)
    outcome = dispatch.split_to_dir(fmt, io.BytesIO(SECRET), m, n, out, "key.bin", **kw)  # type: ignore[arg-type]
    return outcome.paths


def _combine(fmt: str, paths: list[Path], **kw: object) -> bytes:
    sink = io.BytesIO()
    dispatch.combine_files(fmt, paths, sink=sink, **kw)  # type: ignore[arg-type]
    return sink.getvalue()


@pytest.mark.parametrize("fmt", ["native", "vault", "slip39", "gfshare", "ssss"])
def test_every_format_splits_to_private_files_and_combines_back(fmt: str, tmp_path: Path) -> None:
    paths = _split(fmt, tmp_path / "out")
    planned = dispatch.planned_share_names(fmt, "key.bin", 3, encoding="text")
    assert [p.name for p in paths] == planned[:3]
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    detected = dispatch.detect_set(paths)
    assert detected.format == fmt
    assert _combine(fmt, paths[1:], threshold=2) == SECRET


def test_a_peer_split_reports_no_integrity_data_and_its_files(tmp_path: Path) -> None:
    outcome = dispatch.split_to_dir(
        "vault", io.BytesIO(SECRET), 2, 3, tmp_path, "k", ForeignOptions(vault_encoding="hex")
    )
    assert isinstance(outcome, dispatch.PeerSplit)
    assert any("no tcr-kit integrity data" in w for w in outcome.warnings)
    record = outcome.record()
    assert record["format"] == "vault" and len(outcome.share_rows()) == 3
    assert bytes.fromhex(outcome.paths[0].read_text().strip())[-1] == 1


def test_a_native_split_plan_includes_the_manifest() -> None:
    names = dispatch.planned_share_names("native", "s", 2, "text")
    assert names == ["s.share-001.txt", "s.share-002.txt", "s.manifest.json"]
    assert dispatch.planned_share_names("gfshare", "s", 2) == ["s.001", "s.002"]


def test_detection_skips_manifests_and_warns_even_when_nothing_is_left(tmp_path: Path) -> None:
    paths = _split("native", tmp_path)
    manifest = tmp_path / files.manifest_name("key.bin")
    heard: list[str] = []
    detected = dispatch.detect_set([manifest, *paths], on_warning=heard.append)
    assert detected.paths == paths and len(heard) == 1 and "manifest" in heard[0]
    heard.clear()
    with pytest.raises(InputError, match="no share files given"):
        dispatch.detect_set([manifest], on_warning=heard.append)
    assert len(heard) == 1


def test_detection_refuses_a_mix_of_formats(tmp_path: Path) -> None:
    native_share = _split("native", tmp_path / "a")[0]
    vault_share = _split("vault", tmp_path / "b")[0]
    with pytest.raises(InputError, match="different formats"):
        dispatch.detect_set([native_share, vault_share])


def test_ssss_without_a_threshold_is_an_input_error(tmp_path: Path) -> None:
    paths = _split("ssss", tmp_path)
    with pytest.raises(InputError, match="--threshold"):
        _combine("ssss", paths)


def test_a_text_format_combines_before_the_output_file_is_created(tmp_path: Path) -> None:
    paths = _split("vault", tmp_path / "v")
    out = tmp_path / "secret.out"
    with pytest.raises(NotEnoughSharesError):
        dispatch.combine_files("vault", paths[:1], threshold=2, output=out)
    assert not out.exists()
    result = dispatch.combine_files("vault", paths[:2], output=out)
    assert out.read_bytes() == SECRET and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert result.verified is False and result.used == [str(p) for p in paths[:2]]
    with pytest.raises(FileExistsRefused):
        dispatch.combine_files("vault", paths[:2], output=out)


def test_combine_needs_an_output_or_a_sink(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="output"):
        dispatch.combine_files("vault", [])


def test_inspect_gives_typed_facts_per_format(tmp_path: Path) -> None:
    native_facts = dispatch.inspect_files(_split("native", tmp_path / "n", label="ksk"))
    assert [f.index for f in native_facts] == [1, 2, 3]
    first = native_facts[0]
    assert (first.format, first.threshold, first.count, first.label) == ("native", 2, 3, "ksk")
    assert first.checksum == "ok" and first.sha256 and len(first.sha256) == 64
    assert first.secret_length == len(SECRET) and first.exit_code == 0
    ssss_facts = dispatch.inspect_file(_split("ssss", tmp_path / "s")[1])
    assert ssss_facts.record() == {
        "file": ssss_facts.file,
        "format": "ssss",
        "index": 2,
        "secret_length": len(SECRET),
        "label": "",
        "checksum": "none",
    }
    slip = dispatch.inspect_file(_split("slip39", tmp_path / "l")[0])
    assert (slip.format, slip.threshold, slip.checksum) == ("slip39", 2, "ok")
    assert slip.set_id is not None and len(slip.set_id) == 4
    gf = dispatch.inspect_file(_split("gfshare", tmp_path / "g")[2])
    assert (gf.format, gf.index, gf.secret_length, gf.checksum) == ("gfshare", 3, 32, "none")


def test_inspect_reports_a_bad_share_with_its_exit_code_and_never_raises(tmp_path: Path) -> None:
    paths = _split("native", tmp_path, encoding="compact")
    data = bytearray(paths[1].read_bytes())
    data[-40] ^= 0x01  # a payload byte: the header still reads, the checksum fails
    paths[1].write_bytes(bytes(data))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff\xfe not a share")
    facts = dispatch.inspect_files([paths[0], paths[1], junk])
    assert [f.checksum for f in facts] == ["ok", "BAD", "BAD"]
    assert facts[1].exit_code == ShareChecksumError.exit_code == ExitCode.INTEGRITY
    assert facts[1].index == 2 and facts[1].error and "checksum" in facts[1].error
    assert facts[1].sha256 is None
    assert facts[2].format == "unknown" and facts[2].exit_code == ExitCode.USAGE
    assert dispatch.worst_exit_code(facts) == ExitCode.INTEGRITY
    assert dispatch.worst_exit_code(facts[:1]) == 0


def test_the_secret_sink_keeps_what_was_written_and_wipes_it(tmp_path: Path) -> None:
    sink = dispatch.SecretSink()
    for _ in range(3):
        sink.write(b"a" * 3000)
    assert "aaa" not in repr(sink)
    with sink.take() as secret:
        assert bytes(secret.view()) == b"a" * 9000
    assert sink.take().view().tobytes() == b""


def test_a_secret_file_readable_by_others_is_opened_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_bytes(SECRET)
    path.chmod(0o644)
    heard: list[str] = []
    with dispatch.open_secret_file(path, on_warning=heard.append) as fh:
        assert fh.read() == SECRET
    assert heard and "0644" in heard[0]
    with pytest.raises(InputError, match="not a regular file"):
        dispatch.open_secret_file(Path("/dev/null"))


def test_peer_options_never_show_the_passphrase() -> None:
    options = ForeignOptions(slip39_passphrase=b"TREZOR")
    assert "TREZOR" not in repr(options) and "6 bytes" in repr(options)
