"""Witness cosignatures in the feed: a head cosigned with ``tcr witness cosign`` is put back
into the feed entry that published it, and ``tcr report verify --witness`` checks them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.cli_runner import run_tcr
from tests.report.conftest import CeremonyWorld


def _publish(world: CeremonyWorld, site: Path) -> None:
    run_tcr(
        "report", "publish", "--output-dir", site, "--ledger", world.path,
        "--as", "iw-1", "--key", world.key_files["iw-1"], expect=0, in_process=True,
    )  # fmt: skip


def _witness(tmp_path: Path, name: str) -> tuple[Path, str]:
    state = tmp_path / name
    out = run_tcr("witness", "init", "--state", state, "--name", f"w.example/{name}", "--json")
    return state, str(json.loads(out.stdout)["witness_key"])


def _cosign(state: Path, site: Path, out: Path) -> Path:
    vkey = (site / "log.vkey").read_text().strip()
    run_tcr(
        "witness", "cosign", "--state", state, "--log-key", vkey, site / "checkpoint.note",
        "--output", out, expect=0,
    )  # fmt: skip
    return out


def test_a_witness_cosignature_reaches_the_feed_and_is_verified(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _publish(world, site)
    alice, alice_key = _witness(tmp_path, "alice")
    bob, bob_key = _witness(tmp_path, "bob")
    cosigned = _cosign(alice, site, tmp_path / "alice.note")
    proc = run_tcr(
        "report", "add-cosignatures", site, cosigned, "--witness", alice_key, "--json", expect=0
    )
    (head,) = json.loads(proc.stdout)["heads"]
    assert head["added"] == ["w.example/alice"] and head["witnesses"] == ["w.example/alice"]
    last = json.loads((site / "feed" / "entries.jsonl").read_text().splitlines()[-1])
    assert "— w.example/alice " in last["checkpoint"]
    assert "— w.example/alice " in (site / "checkpoint.note").read_text()
    assert (
        "w.example/alice"
        in json.loads((site / "feed.json").read_text())["items"][0]["content_text"]
    )
    ok = run_tcr("report", "verify", site, "--witness", alice_key, "--json", expect=0)
    assert json.loads(ok.stdout)["witnessed_by"] == ["w.example/alice"]
    # Two known witnesses, both needed: bob has not cosigned: quorum not met (exit 4).
    run_tcr(
        "report", "verify", site, "--witness", alice_key, "--witness-key", bob_key,
        "--need", "2", expect=4,
    )  # fmt: skip
    _cosign(bob, site, tmp_path / "bob.note")
    run_tcr("report", "add-cosignatures", site, tmp_path / "bob.note", expect=0)
    both = run_tcr(
        "report", "verify", site, "--witness", alice_key, "--witness", bob_key, "--need", "2",
        expect=0,
    )  # fmt: skip
    assert "cosigned by 2 known witnesses" in both.stdout


def test_a_forged_cosignature_or_a_note_of_another_head_is_refused(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _publish(world, site)
    alice, alice_key = _witness(tmp_path, "alice")
    cosigned = _cosign(alice, site, tmp_path / "alice.note")
    run_tcr("report", "add-cosignatures", site, cosigned, expect=0)
    entries = site / "feed" / "entries.jsonl"
    lines = entries.read_text().splitlines()
    last = json.loads(lines[-1])
    sig_line = next(x for x in last["checkpoint"].splitlines() if "w.example/alice" in x)
    blob = sig_line.rsplit(" ", 1)[1]
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1  # one bit of the Ed25519 signature
    last["checkpoint"] = last["checkpoint"].replace(blob, base64.b64encode(raw).decode())
    entries.write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")
    bad = run_tcr("report", "verify", site, "--witness", alice_key, expect=3)
    assert "cosignature by w.example/alice does not verify" in bad.stderr
    run_tcr("report", "verify", site, expect=0)  # without witness keys: ignored, as C2SP does
    entries.write_text("\n".join(lines) + "\n")
    # A note of a head this feed never published is refused, and nothing changes.
    lines_before = entries.read_text()
    text = cosigned.read_text().splitlines(keepends=True)
    text[1] = str(int(text[1]) + 1) + "\n"  # another tree size
    stranger = tmp_path / "stranger.note"
    stranger.write_text("".join(text))
    refused = run_tcr("report", "add-cosignatures", site, stranger, expect=3)
    assert len(refused.stderr.strip().splitlines()) == 1
    assert entries.read_text() == lines_before


def test_a_witness_follows_the_site_with_proofs_from_the_feed_alone(
    world: CeremonyWorld, tmp_path: Path
) -> None:
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import DiscrepancyCategory, Severity

    site = tmp_path / "site"
    _publish(world, site)
    alice, alice_key = _witness(tmp_path, "alice")
    first = _cosign(alice, site, tmp_path / "first.note")
    run_tcr("report", "add-cosignatures", site, first, expect=0)
    seen = int(json.loads((site / "feed" / "state.json").read_text())["size"])
    with Ledger.open(world.path) as led:
        led.add_discrepancy(
            Actor("iw-1", world.keys["iw-1"]),
            category=DiscrepancyCategory.OTHER,
            severity=Severity.LOW,
            description="a later event",
        )
    _publish(world, site)
    vkey = (site / "log.vkey").read_text().strip()
    # Without a proof the witness refuses to cosign a bigger tree; with the feed's, it does.
    refused = run_tcr(
        "witness", "cosign", "--state", alice, "--log-key", vkey, site / "checkpoint.note",
        expect=2,
    )  # fmt: skip
    assert f"consistency proof from size {seen}" in refused.stderr
    proof = tmp_path / "proof.json"
    proof.write_text(
        run_tcr("report", "prove", site, "--from", str(seen), "--json", expect=0).stdout
    )
    assert json.loads(proof.read_text())["to"]["size"] == seen + 1
    run_tcr(
        "witness", "cosign", "--state", alice, "--log-key", vkey, "--proof", proof,
        site / "checkpoint.note", "--output", tmp_path / "second.note", expect=0,
    )  # fmt: skip
    run_tcr("report", "add-cosignatures", site, tmp_path / "second.note", expect=0)
    ok = run_tcr("report", "verify", site, "--witness", alice_key, "--json", expect=0)
    doc = json.loads(ok.stdout)
    assert doc["witnessed_by"] == ["w.example/alice"] and doc["cosigned_heads"] == 2
