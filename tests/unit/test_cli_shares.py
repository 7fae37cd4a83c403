"""``tcr shares`` end to end, as a user runs it: real processes, real files, exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli_runner import run_tcr


def tcr(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return run_tcr(*args, input=stdin, text=False)


def assert_clean_error(proc: subprocess.CompletedProcess[bytes], code: int) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def split_set(tmp_path: Path) -> tuple[Path, list[Path]]:
    secret = tmp_path / "pin.txt"
    secret.write_bytes(b"activation-pin-314159")
    secret.chmod(0o600)
    out = tmp_path / "shares"
    out.mkdir()
    proc = tcr("shares", "split", "-m", "3", "-n", "5", "-i", secret, "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout)
    assert report["threshold"] == 3 and report["count"] == 5
    paths = [Path(s["file"]) for s in report["shares"]]
    manifest = Path(report["manifest"])
    assert hashlib.sha256(manifest.read_bytes()).hexdigest() == report["manifest_sha256"]
    assert len(report["manifest_pgp_words"].split()) == 32
    return secret, paths


def test_split_writes_one_private_file_per_share(split_set: tuple[Path, list[Path]]) -> None:
    _, paths = split_set
    assert [p.name for p in paths] == [f"pin.txt.share-00{i}.txt" for i in range(1, 6)]
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        assert p.read_text().startswith("TCRS")


def test_combine_any_three_to_stdout(split_set: tuple[Path, list[Path]]) -> None:
    secret, paths = split_set
    proc = tcr("shares", "combine", "-o", "-", paths[4], paths[0], paths[2])
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == secret.read_bytes()


def test_combine_to_file_is_0600_and_never_overwrites(
    split_set: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    secret, paths = split_set
    out = tmp_path / "recovered"
    assert tcr("shares", "combine", "-o", out, *paths[:3]).returncode == 0
    assert out.read_bytes() == secret.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    line = assert_clean_error(tcr("shares", "combine", "-o", out, *paths[:3]), 1)
    assert "already exists" in line


def test_mistyped_share_is_named_with_exit_3(
    split_set: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    _, paths = split_set
    text = paths[1].read_text()
    i = 12 if text[12] != "Z" else 13
    paths[1].write_text(text[:i] + "Z" + text[i + 1 :])
    out = tmp_path / "never"
    line = assert_clean_error(tcr("shares", "combine", "-o", out, *paths[:3]), 3)
    assert str(paths[1]) in line and "checksum" in line
    assert not out.exists()
    # With a spare share the secret is still recovered and the bad share named.
    proc = tcr("shares", "combine", "-o", "-", *paths[:4])
    assert proc.returncode == 0
    assert str(paths[1]) in proc.stderr.decode()


def test_too_few_shares_exit_4(split_set: tuple[Path, list[Path]]) -> None:
    _, paths = split_set
    line = assert_clean_error(tcr("shares", "combine", "-o", "-", *paths[:2]), 4)
    assert "1 more share" in line


def test_share_of_another_set_exit_3(split_set: tuple[Path, list[Path]], tmp_path: Path) -> None:
    secret, paths = split_set
    other = tmp_path / "other"
    other.mkdir()
    assert tcr("shares", "split", "-m", "3", "-n", "5", "-i", secret, "-o", other).returncode == 0
    foreign = sorted(other.iterdir())[2]
    line = assert_clean_error(tcr("shares", "combine", "-o", "-", paths[0], paths[1], foreign), 3)
    assert str(foreign) in line and "share set" in line


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_bytes(b"x")
    assert_clean_error(
        tcr("shares", "split", "-m", "4", "-n", "3", "-i", secret, "-o", tmp_path), 2
    )
    assert_clean_error(
        tcr("shares", "split", "-m", "2", "-n", "300", "-i", secret, "-o", tmp_path), 2
    )
    assert_clean_error(
        tcr("shares", "split", "-m", "1", "-n", "2", "-i", tmp_path / "no", "-o", tmp_path), 2
    )
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello world\n")
    assert_clean_error(tcr("shares", "combine", "-o", "-", junk), 2)


def test_stdin_input_and_compact_encoding_round_trip(tmp_path: Path) -> None:
    data = os.urandom((1 << 20) + 3)
    proc = tcr("shares", "split", "-m", "2", "-n", "3", "-i", "-", "-o", tmp_path, stdin=data)
    assert proc.returncode == 0, proc.stderr.decode()
    files = sorted(tmp_path.glob("secret.share-*.tcrs"))
    assert len(files) == 3
    proc = tcr("shares", "combine", "-o", "-", files[2], files[0])
    assert proc.returncode == 0 and proc.stdout == data


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_bytes(b"x")
    out = tmp_path / "o"
    out.mkdir()
    proc = tcr("shares", "split", "-m", "2", "-n", "3", "-i", secret, "-o", out, "--dry-run")
    assert proc.returncode == 0
    assert b"would split" in proc.stdout
    assert list(out.iterdir()) == []


def test_inspect_reports_metadata_and_never_the_secret(
    split_set: tuple[Path, list[Path]],
) -> None:
    secret, paths = split_set
    proc = tcr("shares", "inspect", "--json", *paths)
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    assert [s["index"] for s in report["shares"]] == [1, 2, 3, 4, 5]
    assert all(len(s["sha256"]) == 64 for s in report["shares"])
    assert all(s["checksum"] == "ok" for s in report["shares"])
    assert secret.read_bytes() not in proc.stdout + proc.stderr


def test_json_error_carries_exit_code(split_set: tuple[Path, list[Path]], tmp_path: Path) -> None:
    _, paths = split_set
    proc = tcr("shares", "combine", "--json", "-o", tmp_path / "x", paths[0])
    assert proc.returncode == 4
    assert json.loads(proc.stdout)["exit_code"] == 4


def test_inspect_names_every_bad_file_and_exits_with_the_worst_code(
    split_set: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    _, paths = split_set
    text = paths[1].read_text()
    i = 12 if text[12] != "Z" else 13
    paths[1].write_text(text[:i] + "Z" + text[i + 1 :])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff\xfe not a share")
    proc = tcr("shares", "inspect", junk, paths[0], paths[1])
    assert proc.returncode == 3
    errors = [line for line in proc.stderr.decode().splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert str(junk) in errors[0] and str(paths[1]) in errors[1] and "checksum" in errors[1]
    proc = tcr("shares", "inspect", "--json", junk, paths[0])
    assert proc.returncode == 2
    report = json.loads(proc.stdout)  # one JSON document: the report
    assert report["ok"] is False
    assert [s["checksum"] for s in report["shares"]] == ["BAD", "ok"]
