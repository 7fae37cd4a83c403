"""``tcr audit head``, ``checkpoint --output``, ``prove``, ``receipt``, ``check-receipt``:
the public-log commands, driven through the command line on a small ledger."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcr_kit.audit.merkle import MerkleTree
from tcr_kit.audit.note import NoteVerifier, open_checkpoint

from ..cli_runner import run_tcr
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
        proc = run_tcr(*args, in_process=True, expect=code)
        return proc.stdout if code == 0 else proc.stderr

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


@pytest.fixture
def ceremony_run(run: Run) -> Run:
    """The ledger with ceremony 55 events by and about tcr-3, then later events."""
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(run.world.path) as led:
        w = run.world
        led.ceremony_number = 55
        for i in range(3):
            led.record_event(w.tcr, "ceremony.step", ["person:tcr-3"], {"step": i})
            led.record_event(w.ca, "ceremony.step", ["hsm:H1"], {"step": i})
        led.ceremony_number = None
        led.record_event(w.tcr, "other.step", [], {"x": 1})
        led.record_event(w.ca, "other.step", [], {"x": 2})
    return run


def _checkpoint(run: Run, path: str = "cp.note") -> str:
    data = run.json("audit", "checkpoint", "--as", "ca-1", "--key", "ca.pem", "--output", path)
    return str(data["verifier_key"])


def test_prove_prints_a_consistency_proof_that_verifies(ceremony_run: Run) -> None:
    from tcr_kit.audit.merkle import verify_consistency

    run = ceremony_run
    data = run.json("audit", "prove", "--from", "4")
    hashes = _event_hashes(run.world)
    tree = MerkleTree.from_data(hashes)
    assert data["to"] == {"size": len(hashes), "root": base64.b64encode(tree.root()).decode()}
    assert data["from"] == {"size": 4, "root": base64.b64encode(tree.root(4)).decode()}
    proof = [base64.b64decode(p) for p in data["proof"]]  # type: ignore[attr-defined]
    verify_consistency(4, len(hashes), tree.root(4), tree.root(), proof)
    text = run("audit", "prove", "--from", "4", "--to", "9")
    assert text.startswith(f"from: size 4 root {base64.b64encode(tree.root(4)).decode()}")
    err = run("audit", "prove", "--from", "9", "--to", "4", code=2)
    assert err.count("\n") == 1 and "--from" in err
    assert "tree size" in run("audit", "prove", "--from", str(len(hashes) + 1), code=2)


def test_receipt_of_a_participant_checks_offline(ceremony_run: Run) -> None:
    run = ceremony_run
    vkey = _checkpoint(run)
    out = run.json(
        "audit",
        "receipt",
        "--as",
        "tcr-3",
        "--ceremony",
        "55",
        "--checkpoint",
        "cp.note",
        "--output",
        "r.json",
    )
    receipt = json.loads(Path("r.json").read_text())
    assert len(receipt["events"]) == 3 == len(out["events"])  # type: ignore[arg-type]
    Path("ledger.sqlite").rename("gone.sqlite")  # no ledger needed from here on
    data = run.json("audit", "check-receipt", "r.json", "--checkpoint", "cp.note", "--key", vkey)
    assert data["participant"] == "tcr-3" and data["ceremony"] == 55
    assert [e["kind"] for e in data["events"]] == ["ceremony.step"] * 3  # type: ignore[union-attr]
    text = run("audit", "check-receipt", "r.json", "--key", vkey)
    assert "receipt OK: 3 events of tcr-3 (ceremony 55)" in text
    whole = run.json(
        "audit",
        "receipt",
        "--ledger",
        "gone.sqlite",
        "--as",
        "tcr-3",
        "--checkpoint",
        "cp.note",
        "--output",
        "all.json",
    )
    # Without --ceremony: also its registration and the later event.
    assert len(whole["events"]) > 3  # type: ignore[arg-type]
    run("audit", "check-receipt", "all.json", "--key", vkey)


def _tampered(path: str, change: object) -> str:
    doc = json.loads(Path(path).read_text())
    change(doc)  # type: ignore[operator]
    out = "tampered.json"
    Path(out).write_text(json.dumps(doc))
    return out


def test_tampered_receipts_fail_with_exit_3_naming_what_failed(ceremony_run: Run) -> None:
    run = ceremony_run
    vkey = _checkpoint(run)
    run(
        "audit",
        "receipt",
        "--as",
        "tcr-3",
        "--ceremony",
        "55",
        "--checkpoint",
        "cp.note",
        "--output",
        "r.json",
    )
    first = json.loads(Path("r.json").read_text())["events"][0]["seq"]

    def edit_body(d: dict) -> None:  # type: ignore[type-arg]
        d["events"][0]["body"] = d["events"][0]["body"].replace('"step":0', '"step":5')

    def edit_body_and_hash(d: dict) -> None:  # type: ignore[type-arg]
        from tcr_kit.audit.chain import event_hash

        edit_body(d)
        d["events"][0]["hash"] = event_hash(d["events"][0]["body"].encode()).hex()

    def flip_proof(d: dict) -> None:  # type: ignore[type-arg]
        p = bytearray(base64.b64decode(d["events"][0]["proof"][0]))
        p[0] ^= 1
        d["events"][0]["proof"][0] = base64.b64encode(bytes(p)).decode()

    def forge_signature(d: dict) -> None:  # type: ignore[type-arg]
        sig = d["events"][0]["signature"]
        d["events"][0]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]

    def other_participant(d: dict) -> None:  # type: ignore[type-arg]
        d["participant"] = "ca-1"

    def wrong_size(d: dict) -> None:  # type: ignore[type-arg]
        d["checkpoint"] = d["checkpoint"].replace(f"\n{len(_event_hashes(run.world))}\n", "\n99\n")

    cases = [
        (edit_body, f"event {first}: body does not match its hash"),
        (edit_body_and_hash, f"event {first}: not in the checkpointed tree"),
        (flip_proof, f"event {first}: not in the checkpointed tree"),
        (forge_signature, f"event {first}: signature does not verify"),
        (other_participant, f"event {first}: does not concern ca-1"),
        (wrong_size, "checkpoint: signature by"),
    ]
    for change, message in cases:
        err = run("audit", "check-receipt", _tampered("r.json", change), "--key", vkey, code=3)
        assert message in err, (change.__name__, err)
        assert err.count("\n") == 1


def test_receipt_check_refuses_a_wrong_key_name_another_key_or_another_checkpoint(
    ceremony_run: Run,
) -> None:
    from tcr_kit.audit.note import NoteSigner

    run = ceremony_run
    vkey = _checkpoint(run)
    run("audit", "receipt", "--as", "tcr-3", "--checkpoint", "cp.note", "--output", "r.json")
    name = vkey.split("+")[0]
    renamed = NoteSigner(name.replace("local", "west"), KEYS["ca"]).verifier.verifier_key()
    assert "not signed by a known key" in run(
        "audit", "check-receipt", "r.json", "--key", renamed, code=3
    )
    stranger = NoteSigner(name, KEYS["iw"]).verifier.verifier_key()
    assert "not signed by a known key" in run(
        "audit", "check-receipt", "r.json", "--key", stranger, code=3
    )
    # A later checkpoint is a different tree head: the receipt is not against it.
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(run.world.path) as led:
        led.record_event(run.world.ca, "later.step", [], {})
    _checkpoint(run, "later.note")
    err = run(
        "audit", "check-receipt", "r.json", "--checkpoint", "later.note", "--key", vkey, code=3
    )
    assert "not the given checkpoint" in err
    assert "malformed verifier key" in run(
        "audit", "check-receipt", "r.json", "--key", "nonsense", code=2
    )


def test_receipt_refuses_a_checkpoint_that_is_not_this_ledgers(ceremony_run: Run) -> None:
    from tcr_kit.audit.note import Checkpoint, NoteSigner, sign

    run = ceremony_run
    _checkpoint(run)
    note = Path("cp.note").read_text()
    origin = note.split("\n")[0]
    size = len(_event_hashes(run.world))
    forged = sign(Checkpoint(origin, size, bytes(32)).to_text(), [NoteSigner(origin, KEYS["ca"])])
    Path("forged.note").write_text(forged)
    err = run(
        "audit",
        "receipt",
        "--as",
        "tcr-3",
        "--checkpoint",
        "forged.note",
        "--output",
        "r.json",
        code=3,
    )
    assert "not this log's tree" in err
    from tcr_kit.audit.signing import SoftwareEd25519Signer

    outsider = sign(
        Checkpoint(origin, size, bytes(32)).to_text(),
        [NoteSigner(origin, SoftwareEd25519Signer.generate())],
    )
    Path("outsider.note").write_text(outsider)
    err = run(
        "audit",
        "receipt",
        "--as",
        "tcr-3",
        "--checkpoint",
        "outsider.note",
        "--output",
        "r.json",
        code=3,
    )
    assert "not signed by a known key" in err
    assert not Path("r.json").exists()
    err = run(
        "audit",
        "receipt",
        "--as",
        "nobody",
        "--checkpoint",
        "cp.note",
        "--output",
        "r.json",
        code=2,
    )
    assert "concerns nobody" in err


# -- witnesses ------------------------------------------------------------------------------
def _add_events(path: Path, n: int, tag: str) -> None:
    from tcr_kit.custody.ledger import Actor, Ledger

    with Ledger.open(path) as led:
        for i in range(n):
            led.record_event(Actor("ca-1", KEYS["ca"]), "test.step", [], {"tag": tag, "i": i})


def _witness(run: Run, name: str) -> str:
    data = run.json("witness", "init", "--state", name, "--name", f"witness.example/{name}")
    return str(data["witness_key"])


def test_witness_cosigns_extensions_and_refuses_rollback_and_forks(ceremony_run: Run) -> None:
    import shutil

    run = ceremony_run
    ledger = run.world.path
    vkey = _checkpoint(run, "cp1.note")
    size1 = len(_event_hashes(run.world))
    shutil.copy(ledger, "old.sqlite")  # the ledger as it was at the first checkpoint
    _witness(run, "w1")
    first = run("witness", "cosign", "--state", "w1", "--log-key", vkey, "cp1.note")
    assert "\u2014 witness.example/w1 " in first
    _add_events(ledger, 3, "honest")
    _checkpoint(run, "cp2.note")
    err = run("witness", "cosign", "--state", "w1", "--log-key", vkey, "cp2.note", code=2)
    assert f"consistency proof from size {size1} is needed" in err
    Path("proof.json").write_text(run("audit", "prove", "--from", str(size1), "--json"))
    text = run(
        "witness",
        "cosign",
        "--state",
        "w1",
        "--log-key",
        vkey,
        "cp2.note",
        "--proof",
        "proof.json",
        "--output",
        "cp2.note",
    )
    # each checkpoint is itself an event: cp2 covers 3 events and its own
    assert f"tree size {size1 + 4} (extends size {size1})" in text
    assert "witness.example/w1" in Path("cp2.note").read_text()
    # Rolled back: the old copy's checkpoint is smaller than what w1 cosigned.
    run(
        "audit",
        "checkpoint",
        "--ledger",
        "old.sqlite",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--output",
        "old.note",
    )
    err = run("witness", "cosign", "--state", "w1", "--log-key", vkey, "old.note", code=3)
    assert "smaller than the size" in err and "rolled back" in err
    # Forked: the old copy grows differently to the same size (its checkpoint event, 2
    # events, the next checkpoint's event).
    _add_events(Path("old.sqlite"), 2, "forked")
    run(
        "audit",
        "checkpoint",
        "--ledger",
        "old.sqlite",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--output",
        "fork.note",
        "--force",
    )
    err = run("witness", "cosign", "--state", "w1", "--log-key", vkey, "fork.note", code=3)
    assert "different root for tree size" in err
    # ... and beyond it, with a proof from the forked ledger: not a consistent extension.
    _add_events(Path("old.sqlite"), 2, "forked")
    run(
        "audit",
        "checkpoint",
        "--ledger",
        "old.sqlite",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--output",
        "fork2.note",
    )
    Path("fproof.json").write_text(
        run("audit", "prove", "--ledger", "old.sqlite", "--from", str(size1 + 4), "--json")
    )
    err = run(
        "witness",
        "cosign",
        "--state",
        "w1",
        "--log-key",
        vkey,
        "fork2.note",
        "--proof",
        "fproof.json",
        code=3,
    )
    assert "not a consistent extension" in err
    shown = run.json("witness", "show", "--state", "w1")
    assert shown["logs"][0]["tree_size"] == size1 + 4  # type: ignore[index]
    # A note not signed by the log key is refused outright.
    other = _other_key_same_name(vkey)
    assert "not signed by a known key" in run(
        "witness", "cosign", "--state", "w1", "--log-key", other, "cp2.note", code=3
    )


def _other_key_same_name(vkey: str) -> str:
    from tcr_kit.audit.note import NoteSigner

    return NoteSigner(vkey.split("+")[0], KEYS["iw"]).verifier.verifier_key()


def test_verify_with_need_2_witnesses_fails_with_one_and_passes_with_two(
    ceremony_run: Run,
) -> None:
    run = ceremony_run
    vkey = _checkpoint(run, "cp.note")
    w1, w2 = _witness(run, "w1"), _witness(run, "w2")
    run("witness", "cosign", "--state", "w1", "--log-key", vkey, "cp.note", "--output", "cp.note")
    need2 = ["--checkpoint", "cp.note", "--witness", w1, "--witness", w2, "--need", "2"]
    err = run("audit", "verify", *need2, code=4)
    assert "cosigned by 1 of the 2 witnesses needed" in err
    assert run.json("audit", "verify", *need2[:4])["checkpoint"]["witnessed_by"] == [  # type: ignore[index]
        "witness.example/w1"
    ]
    run("witness", "cosign", "--state", "w2", "--log-key", vkey, "cp.note", "--output", "cp.note")
    data = run.json("audit", "verify", *need2)
    assert data["checkpoint"]["witnessed_by"] == ["witness.example/w1", "witness.example/w2"]  # type: ignore[index]
    text = run("audit", "verify", *need2)
    assert "cosigned by 2 known witnesses (needed 2)" in text
    # The transcript verifier takes the same options.
    run("audit", "export", "--output", "t.json")
    run("audit", "verify", "--transcript", "t.json", *need2)
    # A tampered cosignature is an integrity failure, not a missing one.
    note = Path("cp.note").read_text()
    line = next(x for x in note.split("\n") if "witness.example/w2" in x)
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[20] ^= 1
    bad = note.replace(line, f"\u2014 witness.example/w2 {base64.b64encode(bytes(blob)).decode()}")
    Path("bad.note").write_text(bad)
    err = run(
        "audit", "verify", "--checkpoint", "bad.note", "--witness", w1, "--witness", w2, code=3
    )
    assert "cosignature by witness.example/w2 does not verify" in err
    # Options that make no sense alone are usage errors.
    assert "--checkpoint" in run("audit", "verify", "--witness", w1, code=2)
    assert "only 1 --witness" in run(
        "audit", "verify", "--checkpoint", "cp.note", "--witness", w1, "--need", "2", code=2
    )


def test_verify_refuses_a_checkpoint_of_a_rewritten_log(ceremony_run: Run) -> None:
    import shutil

    run = ceremony_run
    shutil.copy(run.world.path, "copy.sqlite")
    _add_events(Path("copy.sqlite"), 2, "elsewhere")
    run(
        "audit",
        "checkpoint",
        "--ledger",
        "copy.sqlite",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--output",
        "copy.note",
    )
    _add_events(run.world.path, 3, "here")  # as many as the copy's 2 and its checkpoint
    err = run("audit", "verify", "--checkpoint", "copy.note", code=3)
    assert "not the log's tree" in err
    _add_events(Path("copy.sqlite"), 5, "elsewhere")
    run(
        "audit",
        "checkpoint",
        "--ledger",
        "copy.sqlite",
        "--as",
        "ca-1",
        "--key",
        "ca.pem",
        "--output",
        "long.note",
    )
    assert "rolled back" in run("audit", "verify", "--checkpoint", "long.note", code=3)


def test_a_receipt_holds_the_registration_of_each_key_put_in_the_participants_name(
    run: Run,
) -> None:
    """A key registered to tcr-3 is what lets the log accept statements as theirs, so the
    registration concerns them: after their key is replaced, their receipt and 'tcr audit
    show --person' list both registrations (recorded by sa-1, naming them only as the
    key's owner), and the receipt checks offline."""
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(run.world.path) as led:
        new = SoftwareEd25519Signer.generate()
        led.replace_key(run.world.sa, "tcr-3", new.public_key_bytes())
        registered = [
            e.seq
            for e in led.audit.events()
            if json.loads(e.body)["kind"] == "audit.key.add"
            and json.loads(e.body)["payload"]["owner"] == "tcr-3"
        ]
    assert len(registered) == 2
    vkey = _checkpoint(run)
    run("audit", "receipt", "--as", "tcr-3", "--checkpoint", "cp.note", "--output", "r.json")
    listed = [e["seq"] for e in json.loads(Path("r.json").read_text())["events"]]
    assert set(registered) <= set(listed)
    data = run.json("audit", "check-receipt", "r.json", "--key", vkey)
    assert set(registered) <= {e["seq"] for e in data["events"]}  # type: ignore[union-attr]
    run("audit", "export", "--output", "t.json", "-q")
    shown = run.json("audit", "show", "t.json", "--person", "tcr-3", "-q")
    assert set(registered) <= {e["seq"] for e in shown["entries"]}  # type: ignore[union-attr]


def _record_raw(run: Run, kind: str, subjects: list[str], payload: dict[str, object]) -> int:
    """Record an event with ``payload`` as ca-1 (as a forger holding ca-1's key could)."""
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(run.world.path) as led:
        return led.record_event(run.world.ca, kind, subjects, payload).seq


def test_a_refusal_recorded_without_verdicts_with_malformed_lists_is_shown_not_a_traceback(
    run: Run,
) -> None:
    """A refused activation recorded before verdicts were kept is not re-checked, so one
    whose override signatures or approvals are no list verifies. 'tcr audit show' and
    'tcr status' (ledger and transcript) show it, naming nobody as a signer, instead of
    failing with a traceback."""
    seq = _record_raw(run, "hsm.activate", ["hsm:H1", "person:tcr-3"], {
        "outcome": "refused: quorum not met",
        "override": {"signatures": 5},
        "approvals": {"approvals": 5},
    })  # fmt: skip
    run("audit", "export", "--output", "t.json", "-q")
    run("audit", "verify", "--transcript", "t.json", "-q")
    shown = run.json("audit", "show", "t.json", "--person", "tcr-3", "-q")
    (entry,) = [e for e in shown["entries"] if e["seq"] == seq]  # type: ignore[union-attr]
    assert entry["signers"] == []
    assert f"#{seq}  hsm.activate" in run("audit", "show", "t.json", "-q")
    for more in ((), ("--transcript", "t.json")):
        doc = run.json("status", "--as", "tcr-3", *more)
        (activation,) = doc["activations"]  # type: ignore[misc]
        assert activation["seq"] == seq
        assert [i["text"] for i in activation["involvements"]] == ["named in it"]
        assert f"#{seq}  hsm.activate  named in it" in run("status", "--as", "tcr-3", *more)


def test_an_event_the_timeline_cannot_read_is_one_line_naming_it_with_exit_3(run: Run) -> None:
    """A field the timeline reads but the verifier does not check (here ``overridden``, the
    discrepancies an override went past), malformed: one line naming the event, exit 3,
    from 'tcr audit show' and 'tcr status' alike, never a traceback."""
    seq = _record_raw(run, "bag.seal", ["person:tcr-3"], {"override_by": "ca-1", "overridden": 5})
    run("audit", "export", "--output", "t.json", "-q")
    run("audit", "verify", "--transcript", "t.json", "-q")
    for args in (
        ("audit", "show", "t.json", "-q"),
        ("status", "--as", "tcr-3"),
        ("status", "--as", "tcr-3", "--transcript", "t.json"),
    ):
        err = run(*args, code=3)
        assert len(err.strip().splitlines()) == 1, (args, err)
        assert f"event {seq}" in err and "Traceback" not in err


def test_a_record_status_cannot_replay_is_one_line_naming_its_event_with_exit_3(
    run: Run,
) -> None:
    """The verifier does not check a record's document: a bag whose ``contents`` is no
    list verifies, and 'tcr status' (ledger and transcript) says which event it cannot
    replay (exit 3) rather than failing with a traceback."""
    record = {"table": "bag", "key": "TEB-9", "doc": {"serial": "TEB-9", "contents": 5}}
    from tcr_kit.custody.ledger import Ledger

    with Ledger.open(run.world.path) as led:  # straight into the log, as a forger would
        signer = run.world.ca.signer
        seq = led.audit.append(signer, "ca-1", "bag.note", {"records": [record]}, ["bag:TEB-9"]).seq
    run("audit", "export", "--output", "t.json", "-q")
    run("audit", "verify", "--transcript", "t.json", "-q")
    for more in ((), ("--transcript", "t.json")):
        err = run("status", "--as", "tcr-3", *more, code=3)
        assert len(err.strip().splitlines()) == 1, err
        assert f"event {seq}: a record it writes is malformed" in err


def test_a_receipt_nested_too_deeply_is_one_line_and_exit_2(run: Run) -> None:
    """A receipt comes from outside: one whose JSON nests deeper than the parser goes (the
    whole file, or a field inside a valid-looking receipt) is refused in one line (exit 2),
    not with a traceback."""
    vkey = _checkpoint(run)
    Path("deep.json").write_text("[" * 100_000 + "]" * 100_000)
    inner = {"format": "tcr-kit/audit-receipt", "version": 1, "participant": "tcr-3",
             "ceremony": None, "checkpoint": "x", "events": [], "keys": "@"}  # fmt: skip
    Path("deep2.json").write_text(json.dumps(inner).replace('"@"', "[" * 100_000 + "]" * 100_000))
    for name in ("deep.json", "deep2.json"):
        err = run("audit", "check-receipt", name, "--key", vkey, code=2)
        assert len(err.strip().splitlines()) == 1, err
        assert "nested too deeply" in err
    Path("deep.json").unlink()
    Path("deep2.json").unlink()
