"""``tcr shares`` with the peer formats, against the real ssss and gfshare tools."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_runner import run_tcr

Tool = Callable[[str], str]


def tcr(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return run_tcr(*args, input=stdin, text=False)


def ok(proc: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    return proc


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.bin"
    path.write_bytes(bytes.fromhex("00c0ffee") + os.urandom(12))
    path.chmod(0o600)
    return path


def test_tcr_ssss_shares_combine_with_ssss_combine(
    require_tool: Tool, secret_file: Path, tmp_path: Path
) -> None:
    combine_tool = require_tool("ssss-combine")
    out = tmp_path / "out"
    out.mkdir()
    ok(
        tcr(
            "shares",
            "split",
            "-m",
            "3",
            "-n",
            "5",
            "-i",
            secret_file,
            "-o",
            out,
            "--format",
            "ssss",
            "--ssss-token",
            "kmf",
        )
    )
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"key.bin.ssss-00{i}.txt" for i in range(1, 6)]
    lines = "".join(files[i].read_text() for i in (4, 1, 2))
    proc = subprocess.run(
        [combine_tool, "-t", "3", "-x", "-q"],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stderr.strip().splitlines()[-1] == secret_file.read_bytes().hex()


def test_ssss_split_shares_combine_with_tcr(
    require_tool: Tool, secret_file: Path, tmp_path: Path
) -> None:
    split_tool = require_tool("ssss-split")
    proc = subprocess.run(
        [split_tool, "-t", "2", "-n", "3", "-x", "-q"],
        input=secret_file.read_bytes().hex() + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    paths = []
    for i, line in enumerate(proc.stdout.split(), 1):
        path = tmp_path / f"peer.ssss-{i:03d}.txt"
        path.write_text(line + "\n")
        paths.append(path)
    got = ok(tcr("shares", "combine", "-o", "-", "--threshold", "2", paths[2], paths[0]))
    assert got.stdout == secret_file.read_bytes()
    assert b"cannot be verified" in got.stderr


def test_ssss_without_threshold_is_a_usage_error(
    require_tool: Tool, secret_file: Path, tmp_path: Path
) -> None:
    require_tool("ssss-split")
    ok(
        tcr(
            "shares",
            "split",
            "-m",
            "2",
            "-n",
            "2",
            "-i",
            secret_file,
            "-o",
            tmp_path,
            "--format",
            "ssss",
        )
    )
    proc = tcr("shares", "combine", "-o", "-", *sorted(tmp_path.glob("*.ssss-*")))
    assert proc.returncode == 2
    assert b"--threshold" in proc.stderr


def test_tcr_gfshare_files_combine_with_gfcombine_and_back(
    require_tool: Tool, tmp_path: Path
) -> None:
    gfcombine, gfsplit = require_tool("gfcombine"), require_tool("gfsplit")
    secret = tmp_path / "disk.img"
    secret.write_bytes(os.urandom(300_001))
    out = tmp_path / "ours"
    out.mkdir()
    ok(tcr("shares", "split", "-m", "2", "-n", "4", "-i", secret, "-o", out, "--format", "gfshare"))
    assert sorted(p.name for p in out.iterdir()) == [f"disk.img.00{i}" for i in range(1, 5)]
    recovered = tmp_path / "gf.out"
    subprocess.run(
        [gfcombine, "-o", str(recovered), str(out / "disk.img.004"), str(out / "disk.img.002")],
        check=True,
    )
    assert recovered.read_bytes() == secret.read_bytes()

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    copy = theirs / "disk.img"
    copy.write_bytes(secret.read_bytes())
    subprocess.run([gfsplit, "-n", "3", "-m", "5", str(copy)], check=True)
    copy.unlink()
    shares = sorted(theirs.iterdir())[:3]
    got = tmp_path / "tcr.out"
    ok(tcr("shares", "combine", "-o", got, *shares))
    assert got.read_bytes() == secret.read_bytes()


def test_vault_round_trip_and_inspect(secret_file: Path, tmp_path: Path) -> None:
    ok(
        tcr(
            "shares",
            "split",
            "-m",
            "2",
            "-n",
            "3",
            "-i",
            secret_file,
            "-o",
            tmp_path,
            "--format",
            "vault",
            "--vault-encoding",
            "hex",
        )
    )
    shares = sorted(tmp_path.glob("*.vault-*"))
    assert ok(tcr("shares", "combine", "-o", "-", shares[1], shares[2])).stdout == (
        secret_file.read_bytes()
    )
    report = json.loads(ok(tcr("shares", "inspect", "--json", *shares)).stdout)
    assert [(r["format"], r["index"]) for r in report["shares"]] == [
        ("vault", 1),
        ("vault", 2),
        ("vault", 3),
    ]


def test_convert_native_to_ssss_is_readable_by_ssss(
    require_tool: Tool, secret_file: Path, tmp_path: Path
) -> None:
    combine_tool = require_tool("ssss-combine")
    native_dir, ssss_dir = tmp_path / "native", tmp_path / "ssss"
    native_dir.mkdir()
    ssss_dir.mkdir()
    ok(tcr("shares", "split", "-m", "2", "-n", "3", "-i", secret_file, "-o", native_dir))
    shares = sorted(native_dir.glob("*.share-*"))
    proc = ok(tcr("shares", "convert", "--to", "ssss", "-o", ssss_dir, shares[0], shares[2]))
    assert b"retire and destroy" in proc.stderr
    new = sorted(ssss_dir.iterdir())
    assert len(new) == 3 and new[0].name == "key.bin.ssss-001.txt"
    got = subprocess.run(
        [combine_tool, "-t", "2", "-x", "-q"],
        input=new[0].read_text() + new[1].read_text(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert got.stderr.strip().splitlines()[-1] == secret_file.read_bytes().hex()


def test_mixed_formats_are_refused(secret_file: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    ok(tcr("shares", "split", "-m", "2", "-n", "2", "-i", secret_file, "-o", a))
    ok(
        tcr(
            "shares", "split", "-m", "2", "-n", "2", "-i", secret_file, "-o", b, "--format", "vault"
        )
    )
    proc = tcr(
        "shares", "combine", "-o", "-", next(a.glob("*.share-001*")), next(b.glob("*.vault-002*"))
    )
    assert proc.returncode == 2
    assert b"different formats" in proc.stderr


def test_slip39_split_with_passphrase_file(tmp_path: Path) -> None:
    secret = tmp_path / "seed"
    secret.write_bytes(os.urandom(16))
    secret.chmod(0o600)
    passphrase = tmp_path / "pass"
    passphrase.write_text("TREZOR\n")
    passphrase.chmod(0o644)
    proc = tcr(
        "shares",
        "split",
        "-m",
        "2",
        "-n",
        "3",
        "-i",
        secret,
        "-o",
        tmp_path,
        "--format",
        "slip39",
        "--passphrase-file",
        passphrase,
    )
    assert proc.returncode == 1 and b"chmod 600" in proc.stderr
    passphrase.chmod(0o600)
    ok(
        tcr(
            "shares",
            "split",
            "-m",
            "2",
            "-n",
            "3",
            "-i",
            secret,
            "-o",
            tmp_path,
            "--format",
            "slip39",
            "--passphrase-file",
            passphrase,
        )
    )
    shares = sorted(tmp_path.glob("*.slip39-*"))
    got = ok(tcr("shares", "combine", "-o", "-", "--passphrase-file", passphrase, *shares[:2]))
    assert got.stdout == secret.read_bytes()
