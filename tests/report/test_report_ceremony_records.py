"""Ceremony pages come from the ceremony's own records: ``tcr ceremony open`` (facility,
script, participants by role, in the room or remote) and ``tcr ceremony close`` (the
closing checkpoint's head, the one printed and read aloud at the close)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tcr_kit.audit.transcript import verify_transcript
from tests.cli_runner import run_tcr
from tests.report.conftest import CeremonyWorld, build_world


def _tcr(world: CeremonyWorld, *args: object, who: str = "ca-1") -> dict[str, object]:
    proc = run_tcr(
        *map(str, args), "--ledger", world.path, "--as", who, "--key", world.key_files[who],
        "--json", expect=0, in_process=True,
    )  # fmt: skip
    return dict(json.loads(proc.stdout))


def _open_and_close(world: CeremonyWorld, tmp_path: Path) -> dict[str, object]:
    _tcr(
        world, "ceremony", "open", "2", "--facility", "west", "--script", "KSK-2 script v1.3",
        "--present", "ca-1:CA", "--present", "iw-1:IW", "--present", "tcr-1:CO",
        "--remote", "tcr-2:CO",
    )  # fmt: skip
    _tcr(world, "ceremony", "step", "1.1", "--initials", "IW", who="iw-1")
    _tcr(
        world, "bag", "inspect", "TEB-1003", "--serial-read", "TEB-1003",
        "--check", "seal-intact=ok", "--witness", "sa-1", "--witness-key", world.key_files["sa-1"],
    )  # fmt: skip
    return _tcr(world, "ceremony", "close", "2", "--transcript", tmp_path / "ceremony-2.json")


def test_the_ceremony_page_shows_roles_attendance_script_and_the_closing_checkpoint(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    closed = _open_and_close(world, tmp_path)
    site = tmp_path / "site"
    run_tcr("report", "build", "--output-dir", site, "--ledger", world.path, expect=0)
    page = (site / "ceremony-2.html").read_text()
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", page)
    assert ("ca-1", "CA", "present") in rows and ("iw-1", "IW", "present") in rows
    assert ("tcr-1", "CO", "present") in rows and ("tcr-2", "CO", "remote") in rows
    assert ("sa-1", "SA", "took part (not in the opening record)") in rows
    assert "KSK-2 script v1.3" in page and "<b>west</b>" in page
    assert "closed by" in page and "The checkpoint signed when the ceremony was closed" in page
    hexhead = re.search(r'id="closing-hex">([0-9a-f]{64})<', page)
    assert hexhead is not None and hexhead.group(1) == closed["head"]
    assert closed["head_words"] in page
    # The transcript written at the close verifies against the head the page shows. (This
    # ledger's transcripts carry a bank address, so the site withholds its own copy.)
    result = verify_transcript(tmp_path / "ceremony-2.json", expect_head=hexhead.group(1))
    assert result.report.events == closed["checkpoint"] == closed["head_seq"]
    assert "transcript of this ceremony is not published here" in page


def test_a_ceremony_only_added_says_it_has_no_opening_record(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    run_tcr("report", "build", "--output-dir", site, "--ledger", world.path, expect=0)
    page = (site / "ceremony-1.html").read_text()
    assert "no opening record" in page and "not closed with" in page
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", page)
    assert ("tcr-2", "CO", "present") in rows


def test_publishing_the_closing_checkpoint_alone_rewrites_the_ceremony_page(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    key = ["--ledger", world.path, "--as", "ca-1", "--key", world.key_files["ca-1"]]
    _tcr(
        world, "ceremony", "open", "2", "--facility", "west", "--present", "ca-1:CA",
        "--present", "iw-1:IW",
    )  # fmt: skip
    run_tcr("report", "publish", "--output-dir", site, *key, expect=0, in_process=True)
    assert "not closed with" in (site / "ceremony-2.html").read_text()
    closed = _tcr(world, "ceremony", "close", "2", "--transcript", tmp_path / "c2.json")
    run_tcr("report", "publish", "--output-dir", site, *key, expect=0, in_process=True)
    page = (site / "ceremony-2.html").read_text()
    assert f'id="closing-hex">{closed["head"]}<' in page


def test_the_published_transcript_ends_at_the_closing_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    world = build_world(tmp_path / "w", bank="B-7")  # a short box reference: publishable
    closed = _open_and_close(world, tmp_path)
    site = tmp_path / "site"
    run_tcr("report", "build", "--output-dir", site, "--ledger", world.path, expect=0)
    published = site / "transcripts" / "transcript-ceremony-2.json"
    result = verify_transcript(published, expect_head=str(closed["head"]))
    assert result.report.events == closed["checkpoint"]
    page = (site / "ceremony-2.html").read_text()
    assert f"--expect-head {closed['head']}" in page


def test_the_ceremony_page_shows_the_recorded_config_and_site_file_hashes_in_hex_and_words(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    import hashlib

    from tcr_kit.audit.pgpwords import pgp_words

    config, site_file = tmp_path / "hsm.toml", tmp_path / "hsm-site.toml"
    config.write_bytes(b'format = "tcr-kit.hsm-config"\n# the reviewed configuration\n')
    site_file.write_bytes(b'format = "tcr-kit.hsm-site"\n# this room\n')
    _tcr(
        world, "ceremony", "open", "2", "--facility", "west", "--present", "ca-1:CA",
        "--config", config, "--site", site_file,
    )  # fmt: skip
    site = tmp_path / "site"
    run_tcr("report", "build", "--output-dir", site, "--ledger", world.path, expect=0)
    page = (site / "ceremony-2.html").read_text()
    for name, path in (("config", config), ("site", site_file)):
        digest = hashlib.sha256(path.read_bytes()).digest()
        shown = re.search(rf'id="{name}-hex">([0-9a-f]{{64}})<', page)
        assert shown is not None and shown.group(1) == digest.hex(), name
        words = re.search(rf'id="{name}-words">([^<]+)<', page)
        assert words is not None and words.group(1) == " ".join(pgp_words(digest)), name
    assert "<th>site file SHA-256</th>" in page
    (ceremony,) = [
        c for c in json.loads((site / "report.json").read_text())["ceremonies"]
        if c["number"] == 2
    ]  # fmt: skip
    assert ceremony["site_sha256"] == hashlib.sha256(site_file.read_bytes()).hexdigest()
    # A ceremony opened without them shows neither.
    assert 'id="site-hex"' not in (site / "ceremony-1.html").read_text()
