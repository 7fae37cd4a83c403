"""``tcr ceremony open / step / close``: a ceremony as a record, its changes tagged without
repeating ``--ceremony``, and the head printed at close verifying its transcript."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcr_kit.audit.canonical import parse_canonical

from ..cli_runner import run_tcr
from .conftest import KEYS, World, make_world


class Run:
    def __init__(self, world: World, mp: pytest.MonkeyPatch):
        self.world = world
        mp.setenv("TCR_LEDGER", str(world.path))
        for var in ("TCR_KEY", "TCR_AS", "TCR_SITE", "TCR_LOG_ORIGIN", "TCR_CEREMONY"):
            mp.delenv(var, raising=False)
        mp.chdir(world.path.parent)

    def __call__(self, *args: str, code: int = 0) -> str:
        proc = run_tcr(*args, in_process=True, expect=code)
        return proc.stdout if code == 0 else proc.stderr

    def json(self, *args: str) -> dict[str, object]:
        data = json.loads(self(*args, "--json"))
        assert isinstance(data, dict)
        return data


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    world = make_world(tmp_path / "ledger.sqlite")
    for name, pid in (("ca", "ca"), ("iw", "iw"), ("sa", "sa")):
        KEYS[name].save(tmp_path / f"{pid}.pem")
    world.ledger.close()
    yield Run(world, monkeypatch)


CA = ("--as", "ca-1", "--key", "ca.pem")
IW = ("--as", "iw-1", "--key", "iw.pem")


def _open(run: Run, number: str = "55", *extra: str, code: int = 0) -> str:
    return run(
        "ceremony",
        "open",
        number,
        *CA,
        "--facility",
        "east",
        "--script",
        "KSK-55 script v1",
        "--present",
        "ca-1:CA",
        "--present",
        "iw-1:IW",
        "--remote",
        "tcr-3:CO",
        *extra,
        code=code,
    )


def _ceremonies_of(world: World) -> dict[int, object]:
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(world.path) as led:
        return {
            e.seq: parse_canonical(e.body).get("payload", {}).get("ceremony")
            for e in led.audit.events()
        }


def test_changes_after_open_are_tagged_with_the_ceremony_without_repeating_it(
    run: Run,
) -> None:
    out = _open(run)
    assert "ceremony 55 opened at east" in out
    assert "tcr-3: CO, remote" in out
    run("discrepancy", "add", *IW, "--category", "equipment", "--severity", "low",
        "--description", "a required cable was missing")  # fmt: skip
    tags = _ceremonies_of(run.world)
    last = max(tags)
    assert tags[last] == 55


def test_step_records_the_time_and_initials_of_a_script_step(run: Run) -> None:
    _open(run)
    data = run.json("ceremony", "step", "7", *IW, "--initials", "IW", "--text", "safe opened")
    assert data["ceremony"] == 55 and data["step"] == "7"


def test_a_second_ceremony_cannot_open_while_one_is_open(run: Run) -> None:
    _open(run)
    err = run("ceremony", "open", "56", *CA, "--facility", "east", code=2)
    assert "ceremony 55 is still open" in err


def test_the_head_printed_at_close_verifies_the_exported_transcript(run: Run) -> None:
    _open(run)
    run("ceremony", "step", "1", *IW)
    out = run("ceremony", "close", "55", *CA, "--transcript", "ksk55.json", "--note", "ksk55.note")
    head = re.search(r"SHA-256: ([0-9a-f]{64})", out)
    assert head is not None
    assert "PGP Words:" in out
    verified = run("audit", "verify", "--transcript", "ksk55.json", "--expect-head", head[1])
    assert "verified" in verified
    # the later export of the same ceremony ends at (or after) the closing checkpoint too
    run("audit", "checkpoint", *CA)
    run("audit", "export", "--ceremony", "55", "--output", "again.json")
    run("audit", "verify", "--transcript", "again.json", "--expect-head", head[1])
    listed = run.json("ceremony", "list")
    assert listed["ceremonies"][0]["status"] == "closed"  # type: ignore[index]


def test_export_of_a_ceremony_includes_a_checkpoint_taken_after_its_last_event(
    run: Run,
) -> None:
    run("discrepancy", "add", *IW, "--ceremony", "54", "--category", "time",
        "--severity", "low", "--description", "laptop clock not in UTC")  # fmt: skip
    run("credential", "add", *CA, "--id", "CO3-CARD", "--kind", "smartcard",
        "--serial", "0A1B2C", "--holder", "tcr-3")  # fmt: skip
    cp = run.json("audit", "checkpoint", *CA)
    run("audit", "export", "--ceremony", "54", "--output", "c54.json")
    run("audit", "verify", "--transcript", "c54.json", "--expect-head", str(cp["head"]))


def test_export_honours_tcr_ceremony(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    _open(run)
    run("ceremony", "close", "55", *CA, "--transcript", "t.json")
    monkeypatch.setenv("TCR_CEREMONY", "55")
    data = run.json("audit", "export", "--output", "env.json")
    assert data["selection"] == "ceremony 55"


def test_the_real_ceremony_refuses_a_configuration_other_than_the_rehearsed_one(
    run: Run, tmp_path: Path
) -> None:
    (tmp_path / "ceremony.toml").write_text("threshold = 3\n")
    (tmp_path / "site-lab.toml").write_text('module = "/usr/lib/softhsm/libsofthsm2.so"\n')
    (tmp_path / "site-east.toml").write_text('module = "/opt/hsm/lib.so"\n')
    _open(run, "154", "--rehearsal", "--config", "ceremony.toml", "--site", "site-lab.toml")
    run("ceremony", "close", "154", *CA, "--transcript", "r.json")
    out = _open(run, "55", "--config", "ceremony.toml", "--site", "site-east.toml",
                "--rehearsed-in", "154")  # fmt: skip
    assert "configuration as rehearsed in 154" in out
    run("ceremony", "close", "55", *CA, "--transcript", "c.json")
    (tmp_path / "ceremony.toml").write_text("threshold = 2\n")
    err = _open(run, "56", "--config", "ceremony.toml", "--rehearsed-in", "154", code=3)
    assert "not the one rehearsed in ceremony 154" in err


def test_a_dry_run_open_records_nothing_and_leaves_no_ceremony_open(run: Run) -> None:
    before = run.json("audit", "head")
    out = _open(run, "55", "--dry-run")
    assert "nothing was changed" in out
    assert run.json("audit", "head") == before
    assert run.json("ceremony", "list")["ceremonies"] == []


def test_a_transcript_whose_through_checkpoint_criterion_is_edited_fails_verification(
    run: Run, tmp_path: Path
) -> None:
    import json

    run("discrepancy", "add", *IW, "--ceremony", "54", "--category", "time",
        "--severity", "low", "--description", "laptop clock not in UTC")  # fmt: skip
    run("credential", "add", *CA, "--id", "CO3-CARD", "--kind", "smartcard",
        "--serial", "0A1B2C", "--holder", "tcr-3")  # fmt: skip
    run("audit", "checkpoint", *CA)
    run("audit", "export", "--ceremony", "54", "--output", "c54.json")
    doc = json.loads((tmp_path / "c54.json").read_text())
    assert doc["selection"]["criteria"]["through_checkpoint"] is True
    doc["selection"]["criteria"]["through_checkpoint"] = False
    (tmp_path / "edited.json").write_text(json.dumps(doc))
    err = run("audit", "verify", "--transcript", "edited.json", code=3)
    assert "selection does not match its criteria" in err
