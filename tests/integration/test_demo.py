"""The README's main-job command keeps working: the demo runs end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli_runner import CHILD
from tests.integration.go_reference import go, gotlog_fixture  # noqa: F401 (a fixture)


def test_demo_runs_end_to_end_and_names_its_folder(tmp_path: Path, gotlog: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "tcr_cli.demo", "--out", str(out)],
        capture_output=True,
        timeout=300,
        check=False,
        **CHILD,
    )
    stdout = proc.stdout.decode()
    assert proc.returncode == 0, stdout + proc.stderr.decode()
    assert str(out) in stdout
    assert "Demo complete" in stdout
    assert (out / "recovered.bin").read_bytes() == (out / "activation-secret.bin").read_bytes()
    assert not (out / "never.bin").exists()
    # The ceremony part: HSM activated by 3 of 7 cards, transcript verified.
    assert "2 of 3 shares presented for HSM-E: 1 more needed" in stdout
    assert "signature verified with the HSM key's public half: ok" in stdout
    assert "verdict: ready: 7 of 7 available" in stdout
    assert (out / "zone.sig").exists() and (out / "transcript-ceremony-1.json").exists()
    assert not list((out / "shares").glob("*share*"))  # plain shares destroyed after enrolment
    # The ceremony's checkpoint note opens in Go's reference, and TCR 4's receipt checked.
    vkey = stdout.split("verifier key: ")[1].split()[0]
    opened = go(gotlog, "verify-note", vkey, stdin=(out / "checkpoint-ceremony-1.note").read_text())
    assert opened.startswith("tcr-kit/demo/") and "verified: tcr-kit/demo/" in opened
    assert "receipt OK: 3 events of tcr-4 (ceremony 1)" in stdout
    # The public report of the ceremony, with its feed verified and the ten years imported.
    assert (out / "site" / "index.html").exists() and "feed ok:" in stdout
    assert "the ledger was rolled back" in stdout  # publish refused the old copy (exit 3)
    assert "is beyond the feed" in stdout  # the republished feed fails against the kept head
    assert (out / "site" / "transcripts" / "transcript-ceremony-1.json").exists()
    assert "clocks are in UTC" in (out / "site" / "index.html").read_text()
    assert (out / "forms" / "inspection.pdf").exists()
    _nothing_private_in_the_site(out)


def _nothing_private_in_the_site(out: Path) -> None:
    """No PIN, secret, share line or private-key line of the demo appears in its report."""
    needles = [(out / "activation-secret.bin").read_bytes().hex()]
    needles += [p.read_text().strip() for p in (out / "pins").iterdir() if p.is_file()]
    for pem in (out / "keys").glob("*.pem"):
        needles += [line for line in pem.read_text().splitlines() if "-----" not in line]
    for folder in ("split", "ssss", "gfshare"):
        for share in (out / folder).glob("*"):
            if share.is_file():
                text = share.read_bytes().decode("ascii", errors="replace")
                needles += [line for line in text.splitlines() if len(line) >= 12]
    needles = [n for n in needles if len(n) >= 6]
    assert len(needles) > 20
    for page in (out / "site").rglob("*"):
        if page.is_file():
            text = page.read_text(errors="replace")
            for needle in needles:
                assert needle not in text, f"{needle!r} is in {page.name}"


def test_demo_refuses_an_existing_folder(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tcr_cli.demo", "--out", str(tmp_path)],
        capture_output=True,
        check=False,
        **CHILD,
    )
    assert proc.returncode == 2
    assert b"already exists" in proc.stderr
