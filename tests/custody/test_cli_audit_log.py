"""``tcr audit head``, ``checkpoint --output``, ``prove``, ``receipt``, ``check-receipt``:
the public-log commands, driven through the command line on a small ledger."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcr_cli import app
from tcr_cli.main import main
from tcr_kit.audit.merkle import MerkleTree
from tcr_kit.audit.note import NoteVerifier, open_checkpoint

from .conftest import KEYS, World, make_world


class Run:
    def __init__(self, world: World, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch):
        self.world = world
        self.capsys = capsys
        self.mp = mp
        mp.setenv("TCR_LEDGER", str(world.path))
        for var in ("TCR_KEY", "TCR_AS", "TCR_SITE", "TCR_LOG_ORIGIN", "TCR_CEREMONY"):
            mp.delenv(var, raising=False)
        mp.chdir(world.path.parent)

    def __call__(self, *args: str, code: int = 0) -> str:
        app._state.update(json=False, quiet=False)
        self.mp.setattr(sys, "argv", ["tcr", *args])
        try:
            main()
            rc = 0
        except SystemExit as exc:
            rc = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        assert rc == code, f"tcr {' '.join(args)} -> {rc}\n{out}\n{err}"
        assert "Traceback" not in err
        return out if code == 0 else err

    def json(self, *args: str) -> dict[str, object]:
        out = self(*args, "--json")
        data = json.loads(out)
        assert isinstance(data, dict)
        return data


@pytest.fixture
def run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Run]:
    world = make_world(tmp_path / "ledger.sqlite")
    keyfile = tmp_path / "ca.pem"
    KEYS["ca"].save(keyfile)
    world.ledger.close()
    yield Run(world, capsys, monkeypatch)


def _event_hashes(world: World) -> list[bytes]:
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(world.path) as led:
        return [bytes.fromhex(e.hash) for e in led.audit.events()]


def test_head_shows_tree_size_and_root_beside_the_chain_head(run: Run) -> None:
    data = run.json("audit", "head")
    hashes = _event_hashes(run.world)
    assert data["seq"] == data["tree_size"] == len(hashes)
    assert data["head"] == hashes[-1].hex()
    root = MerkleTree.from_data(hashes).root()
    assert data["tree_root"] == base64.b64encode(root).decode()
    assert data["tree_root_hex"] == root.hex()
    text = run("audit", "head")
    assert f"tree size {len(hashes)} root: {data['tree_root']}" in text


def test_checkpoint_writes_a_signed_note_and_prints_the_verifier_key(run: Run) -> None:
    data = run.json(
        "audit",
        "checkpoint",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--output",
        "cp.note",
        "--site",
        "east",
    )
    note = Path("cp.note").read_text()
    hashes = _event_hashes(run.world)
    origin = f"tcr-kit/east/{hashes[0].hex()[:16]}"
    assert data["origin"] == origin
    vkey = str(data["verifier_key"])
    cp, _, names = open_checkpoint(note, [NoteVerifier.parse(vkey)], origin=origin)
    assert cp.size == len(hashes) and names == [origin]
    assert cp.root == MerkleTree.from_data(hashes).root()
    assert data["seq"] == len(hashes)  # the chain checkpoint is still taken
    verified = run.json("audit", "verify")
    assert verified["checkpoints"] == 1
    err = run(
        "audit", "checkpoint", "--as", "ca-1", "--key", "ca.pem", "--output", "cp.note", code=1
    )
    assert "already exists" in err
    text = run(
        "audit",
        "checkpoint",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--output",
        "cp.note",
        "--force",
        "--origin",
        "example.org/ceremonies",
    )
    assert "verifier key: example.org/ceremonies+" in text


def test_checkpoint_refuses_an_origin_that_cannot_be_a_key_name(run: Run) -> None:
    err = run(
        "audit",
        "checkpoint",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--output",
        "cp.note",
        "--origin",
        "two words",
        code=2,
    )
    assert "invalid key name" in err
    assert not Path("cp.note").exists()
    assert run.json("audit", "verify")["checkpoints"] == 0
