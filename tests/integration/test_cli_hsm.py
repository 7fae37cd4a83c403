"""``tcr hsm`` end to end in real processes against SoftHSM2: init, activate, readiness and
every fault as one line with its exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.cards.enrol import enrol
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import TcrRef
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Credential, CredentialKind, Person, Role, ShareSet, build
from tcr_kit.errors import InputError
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.provision import plan_init
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import open_share_file, split_bytes
from tests.fixtures.stack import TRANSPORT_PIN, SoftHsm
from tests.integration.conftest import MODULE, one_error_line, run_tcr
from tests.integration.hsm_helpers import DemoHsm, make_hsm, write_config

pytestmark = pytest.mark.integration
NewToken = Callable[..., tuple[str, str]]
ACT = ["hsm", "activate", "--no-ledger"]


@pytest.fixture(autouse=True)
def _local_activation_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCR_ACTIVATION_LOG", str(tmp_path / "activations.log"))


@pytest.fixture
def hsm(softhsm: SoftHsm, tmp_path: Path) -> DemoHsm:
    return make_hsm(tmp_path, softhsm)


def _secret_file(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def test_init_dry_run_changes_nothing_then_init_writes_0600_shares(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    config = write_config(tmp_path, softhsm, "HSM-CLI-INIT", m=2, n=3)
    out = tmp_path / "out"
    out.mkdir()
    args = ["hsm", "init", "--config", str(config), "-m", "2", "-n", "3", "--output-dir", str(out)]
    dry = run_tcr([*args, "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing was changed" in dry.stdout and not list(out.iterdir())
    done = run_tcr([*args, "--json"])
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert len(facts["share_files"]) == 3 and facts["config_sha256"]
    assert all((Path(p).stat().st_mode & 0o777) == 0o600 for p in facts["share_files"])
    again = run_tcr([*args, "-q"])
    assert again.returncode == 1
    assert "already exists" in one_error_line(again)
    bad_m = run_tcr([*args[:-2], "--output-dir", str(out), "-m", "3"])
    assert bad_m.returncode == 2


def test_init_dry_run_into_a_missing_folder_says_it_would_create_it_and_creates_nothing(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    config = write_config(tmp_path, softhsm, "HSM-CLI-DRY", m=2, n=3)
    out = tmp_path / "new" / "out"
    args = ["hsm", "init", "--config", str(config), "-m", "2", "-n", "3", "--output-dir", str(out)]
    dry = run_tcr([*args, "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert f"  would create folder {out} (0700)" in dry.stdout.splitlines()
    assert f"  would write {out}/HSM-CLI-DRY-so-pin.txt (0600, demo SO PIN)" in dry.stdout
    assert not (tmp_path / "new").exists()
    facts = json.loads(run_tcr([*args, "--dry-run", "--json"]).stdout)
    assert facts["dry_run"] is True and facts["output_dir_missing"] is True
    assert not (tmp_path / "new").exists()
    # A file where the folder would go is refused by the dry run too (exit 2, one line).
    (tmp_path / "plain").write_text("x")
    blocked = run_tcr([*args[:-1], str(tmp_path / "plain"), "--dry-run"])
    assert blocked.returncode == 2
    assert f"'{tmp_path / 'plain'}' is a file" in one_error_line(blocked)
    with pytest.raises(InputError, match="plain: exists and is not a folder"):
        plan_init(load_config(config), threshold=2, count=3, output_dir=tmp_path / "plain",
                  sign_key_label="k", dry_run=True)  # fmt: skip
    # The real run creates the folder (0700) and says nothing of creating it.
    done = run_tcr(args)
    assert done.returncode == 0, done.stderr
    assert (out.stat().st_mode & 0o777) == 0o700 and "would" not in done.stdout


def test_activate_with_a_card_and_files_signs_and_the_signature_verifies(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, _ = new_token("TCR")
    share = open_share_file(hsm.plan.share_files[3])
    record = tmp_path / "card.json"
    enrol(
        Pkcs11Card(MODULE, token_label=label),
        share.encode_compact(),
        tcr=TcrRef(name="Alice", id="tcr-4"),
        current_pin=SecretBuffer(bytearray(TRANSPORT_PIN.encode())),
        new_pin=SecretBuffer(bytearray(b"alice-pin")),
        record_path=record,
    )
    pin_file = _secret_file(tmp_path / "pin", "alice-pin")
    data = tmp_path / "zone.txt"
    data.write_bytes(b"example. IN DNSKEY 257 3 13 ...\n")
    sig = tmp_path / "zone.sig"
    proc = run_tcr(
        [*ACT, "--config", str(hsm.config_path), "--pkcs11-module", MODULE,
         "--share", str(hsm.plan.share_files[0]), "--card", f"record={record},pin-file={pin_file}",
         "--share", str(hsm.plan.share_files[1]),
         "--sign-key", "ksk-demo", "--input", str(data), "--output", str(sig), "--json"]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [p["index"] for p in out["presented"]] == [1, 2, 4]  # files first, then cards
    assert out["presented"][2]["tcr_id"] == "tcr-4"
    der = bytes.fromhex(hsm.plan.public_key_der)
    DSS.new(ECC.import_key(der), "fips-186-3", encoding="der").verify(
        SHA256.new(data.read_bytes()), sig.read_bytes()
    )
    again = run_tcr(
        [*ACT, "--config", str(hsm.config_path), "-q",
         *(x for p in hsm.plan.share_files[:3] for x in ("--share", str(p))),
         "--sign-key", "ksk-demo", "--input", str(data), "--output", str(sig)]
    )  # fmt: skip
    assert again.returncode == 1 and "refusing to overwrite" in one_error_line(again)


CHILD = """
import os, sys, pkcs11
fd = int(os.environ["TCR_PIN_FD"])
pin = os.read(fd, 200).decode().strip()
assert pin not in " ".join(sys.argv) and all(pin not in v for v in os.environ.values())
lib = pkcs11.lib(os.environ["TCR_HSM_MODULE"])
token = lib.get_token(token_label=os.environ["TCR_HSM_TOKEN_LABEL"])
with token.open(user_pin=pin) as session:
    session.get_key(label="ksk-demo", object_class=pkcs11.ObjectClass.PRIVATE_KEY)
print("child logged in")
"""


def test_activate_runs_a_child_that_gets_the_pin_through_an_inherited_pipe(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = run_tcr(
        [*ACT, "--config", str(hsm.config_path),
         *(x for p in hsm.plan.share_files[2:] for x in ("--share", str(p))),
         "--", sys.executable, str(script)]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "child logged in" in proc.stdout and "exit 0" in proc.stdout


def test_every_fault_is_one_line_with_its_exit_code(
    hsm: DemoHsm, softhsm: SoftHsm, new_token: NewToken, tmp_path: Path
) -> None:
    files = hsm.plan.share_files
    base = [*ACT, "--config", str(hsm.config_path), "-q"]
    sign = ["--sign-key", "ksk-demo", "--input", str(files[0]), "--output", str(tmp_path / "s")]

    def run(
        *shares: Path, extra: tuple[str, ...] = (), config: Path | None = None
    ) -> tuple[int, str]:
        args = [*base, *(x for p in shares for x in ("--share", str(p))), *extra, *sign]
        if config is not None:
            args[4] = str(config)
        proc = run_tcr(args)
        return proc.returncode, one_error_line(proc)

    code, line = run(files[0], files[1])
    assert code == 4 and "1 more needed" in line
    code, line = run(files[0], files[0], files[1])
    assert code == 2 and "same share" in line
    foreign = tmp_path / "foreign.txt"
    foreign.write_text(split_bytes(b"f" * 32, 3, 5)[2].encode_text())
    code, line = run(files[0], foreign, files[1])
    assert code == 3 and "belongs to share set" in line
    # a token with another PIN: the rebuilt secret is refused by the HSM
    label, _ = new_token("HSM")
    other = write_config(tmp_path, softhsm, label)
    code, line = run(files[0], files[1], files[2], config=other)
    assert code == 3 and "the shares do not match this HSM" in line
    missing = write_config(tmp_path, softhsm, "X", module="/usr/lib/none/libnone.so")
    code, line = run(files[0], config=missing)
    assert code == 1 and "no such file" in line
    bad = tmp_path / "bad.toml"
    bad.write_text(hsm.config_path.read_text().replace("threshold = 3", "threshold = 0"))
    code, line = run(files[0], config=bad)
    assert code == 2 and "share_set.threshold" in line
    # a wrong card PIN: exit 1, naming the card
    card_label, _ = new_token("TCR")
    record = tmp_path / "r.json"
    enrol(
        Pkcs11Card(MODULE, token_label=card_label),
        open_share_file(files[4]).encode_compact(),
        tcr=TcrRef(name="Bob", id="tcr-5"),
        current_pin=SecretBuffer(bytearray(TRANSPORT_PIN.encode())),
        new_pin=SecretBuffer(bytearray(b"bob-pin-1")),
        record_path=record,
    )
    wrong = _secret_file(tmp_path / "wrong", "not-bobs")
    code, line = run(
        files[0],
        extra=("--pkcs11-module", MODULE, "--card", f"record={record},pin-file={wrong}"),
    )
    assert code == 1 and f"wrong PIN for pkcs11 card '{card_label}'" in line
    code, line = run(
        files[0],
        extra=("--pkcs11-module", MODULE, "--card", f"record={record},pin-file={wrong}",
               "--card", f"record={record},pin-file={wrong}"),
    )  # fmt: skip
    assert code == 1  # the wrong PIN stops it first


def test_readiness_from_the_ledger_ready_at_risk_not_ready(hsm: DemoHsm, tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    key = SoftwareEd25519Signer.generate()
    with Ledger.open(path) as ledger:
        ledger.initialise(
            build(Person, id="ca", name="CA", roles=(Role.CA,),
                  public_key=key.public_key_bytes().hex(), key_algorithm="ed25519"),
            key,
        )  # fmt: skip
        actor = Actor("ca", key)
        cfg = hsm.loaded.share_set
        ledger.add_share_set(actor, build(ShareSet, id=cfg.id, m=3, n=5, purpose="HSM", epoch=1))
        for i in range(1, 6):
            ledger.add_credential(
                actor,
                build(Credential, id=f"c{i}", kind=CredentialKind.SMARTCARD, serial=f"S{i}",
                      share_set=cfg.id, share_index=i),
            )  # fmt: skip
    args = ["hsm", "readiness", "--config", str(hsm.config_path), "--ledger", str(path)]
    ready = run_tcr([*args, "--json"])
    assert ready.returncode == 0, ready.stderr
    assert json.loads(ready.stdout)["verdict"] == "ready"
    from tcr_kit.custody.lifecycle import CredentialAction

    with Ledger.open(path) as ledger:
        ledger.credential_action(actor, "c1", CredentialAction.LOSE)
        ledger.credential_action(actor, "c2", CredentialAction.LOSE)
    risk = run_tcr(args)
    assert risk.returncode == 0, risk.stderr
    assert "verdict: at risk: 3 of 5 available" in risk.stdout
    assert "c1 (-): replace it" in risk.stdout
    with Ledger.open(path) as ledger:
        ledger.credential_action(actor, "c3", CredentialAction.LOSE)
    gone = run_tcr(args)
    assert gone.returncode == 4
    assert "not ready: 2 of 5 available, 3 needed; 1 more" in one_error_line(gone)
    gone_json = run_tcr([*args, "--json"])  # the whole view, one JSON document, exit 4
    assert gone_json.returncode == 4
    assert json.loads(gone_json.stdout)["verdict"] == "not-ready"


def test_rekey_asks_first_then_resumes_and_the_new_shares_activate(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    old = hsm.plan.share_files
    args = ["hsm", "rekey", "--no-ledger", "--config", str(hsm.config_path), "-m", "2", "-n",
            "3", "--output-dir", str(new), "--new-set-id", "set-epoch-2", "-q"]  # fmt: skip
    shares = [x for p in old[:3] for x in ("--share", str(p))]
    refused = run_tcr([*args, *shares], stdin="no\n")
    assert refused.returncode == 1 and "not confirmed" in refused.stderr
    assert "retire epoch 1" in refused.stderr and "type yes" in refused.stderr
    done = run_tcr([*args, *shares], stdin="yes\n")
    assert done.returncode == 0, done.stderr
    assert "resumed from" in done.stdout and "epoch 2" in done.stdout
    text = hsm.config_path.read_text().replace("epoch = 1", "epoch = 2")
    text = text.replace("threshold = 3", "threshold = 2").replace("count = 5", "count = 3")
    new_config = tmp_path / "epoch2.toml"
    new_config.write_text(text)
    new_shares = sorted(new.glob("*share*.txt"))
    # The new set's manifest was written with its shares: each new share checks against it.
    from tcr_kit.sharing.manifest import check_share, load_manifest

    (manifest,) = new.glob("*.manifest.json")
    assert f"the new set's manifest: {manifest}" in done.stdout
    listed = load_manifest(manifest)
    assert (listed.threshold, listed.count, listed.indices) == (2, 3, [1, 2, 3])
    assert [check_share(listed, open_share_file(p)).index for p in new_shares] == [1, 2, 3]
    proc = run_tcr(
        [*ACT, "--config", str(new_config), "-q",
         "--share", str(new_shares[2]), "--share", str(new_shares[0]), "--", "true"]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stale = run_tcr(
        [*ACT, "--config", str(new_config), "-q", "--share", str(old[0]), "--", "true"]
    )  # fmt: skip
    assert stale.returncode == 3 and "retired epoch 1" in one_error_line(stale)


def test_prompt_cards_names_what_is_missing_and_goes_on_after_a_refused_card(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    records = []
    for i in (2, 3):
        label, _ = new_token("TCR")
        record = tmp_path / f"tcr-{i}.json"
        enrol(
            Pkcs11Card(MODULE, token_label=label),
            open_share_file(hsm.plan.share_files[i - 1]).encode_compact(),
            tcr=TcrRef(name=f"TCR {i}", id=f"tcr-{i}"),
            current_pin=SecretBuffer(bytearray(TRANSPORT_PIN.encode())),
            new_pin=SecretBuffer(bytearray(f"pin-of-{i}".encode())),
            record_path=record,
        )
        records.append(record)
    r2, r3 = records
    answers = f"{r2}\nwrong-pin\n{r2}\npin-of-2\n{r2}\npin-of-2\n{r3}\npin-of-3\n"
    proc = run_tcr(
        [*ACT, "--config", str(hsm.config_path), "--pkcs11-module", MODULE,
         "--share", str(hsm.plan.share_files[0]), "--prompt-cards", "--", "true"],
        stdin=answers,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "2 more card(s) needed" in err and "insert the card of TCR tcr-2 (TCR 2)" in err
    assert "refused: wrong PIN for pkcs11 card" in err
    assert "refused: pkcs11 card" in err and "already presented" in err
    assert "share 3 from" in err
    stop = run_tcr(
        [*ACT, "--config", str(hsm.config_path), "--pkcs11-module", MODULE, "-q",
         "--share", str(hsm.plan.share_files[0]), "--prompt-cards", "--", "true"],
        stdin="\n",
    )  # fmt: skip
    assert stop.returncode == 4


def test_activate_without_a_ledger_needs_no_ledger_and_then_logs_every_event_locally(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    shares = [x for p in hsm.plan.share_files[:3] for x in ("--share", str(p))]
    base = ["hsm", "activate", "--config", str(hsm.config_path), *shares]
    refused = run_tcr([*base, "--", "true"])
    assert refused.returncode == 2 and "--no-ledger" in one_error_line(refused)
    log = tmp_path / "activations.log"
    assert not log.exists()  # refused before anything was attempted
    done = run_tcr([*base, "--no-ledger", "--", "true"])
    assert done.returncode == 0, done.stderr
    assert f"recorded only in {log}" in done.stderr
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["hsm.activate"]
    assert lines[0]["payload"]["outcome"] == "pin handed off"
    assert log.stat().st_mode & 0o777 == 0o600
    short = run_tcr([*ACT, "--config", str(hsm.config_path),
                     "--share", str(hsm.plan.share_files[0]), "--", "true"])  # fmt: skip
    assert short.returncode == 4
    outcomes = [json.loads(x)["payload"]["outcome"] for x in log.read_text().splitlines()]
    assert len(outcomes) == 2 and outcomes[1].startswith("refused: ")


GRANDPARENT = """
import os, subprocess, sys
from tcr_kit.hsm import receive_pin
fd = os.environ["TCR_PIN_FD"]
with receive_pin() as pin:
    assert len(pin.view()) > 0
# a grandchild started after the PIN was read, even handed every descriptor and $TCR_PIN_FD
probe = "import os,sys\\ntry:\\n print(repr(os.read(int(sys.argv[1]), 200)))\\n"
probe += "except OSError as e:\\n print('EBADF' if e.errno == 9 else e)"
env = {**os.environ, "TCR_PIN_FD": fd}
out = subprocess.run([sys.executable, "-c", probe, fd], close_fds=False, env=env,
                     capture_output=True, text=True, check=True).stdout.strip()
print("grandchild read:", out)
"""

LEAKY = """
import os, subprocess, sys
fd = int(os.environ["TCR_PIN_FD"])
pin = os.read(fd, 200)  # reads without closing: the descriptor stays inheritable
assert pin.strip()
probe = "import os,sys\\nprint(repr(os.read(int(sys.argv[1]), 200)))"
out = subprocess.run([sys.executable, "-c", probe, str(fd)], pass_fds=(fd,),
                     capture_output=True, text=True, check=True, timeout=20).stdout.strip()
print("grandchild read:", out)
"""


@pytest.mark.parametrize(("child", "expected"), [(GRANDPARENT, "EBADF"), (LEAKY, "b''")])
def test_a_grandchild_of_the_pin_reader_cannot_read_the_pin(
    hsm: DemoHsm, tmp_path: Path, child: str, expected: str
) -> None:
    script = tmp_path / "child.py"
    script.write_text(child)
    proc = run_tcr(
        [*ACT, "--config", str(hsm.config_path),
         *(x for p in hsm.plan.share_files[2:] for x in ("--share", str(p))),
         "--", sys.executable, str(script)]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"grandchild read: {expected}" in proc.stdout


def test_rekey_without_a_ledger_needs_no_ledger_and_then_logs_the_rekey_locally(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    shares = [x for p in hsm.plan.share_files[:3] for x in ("--share", str(p))]
    base = ["hsm", "rekey", "--config", str(hsm.config_path), "-m", "2", "-n", "3",
            "--output-dir", str(new), "--new-set-id", "set-epoch-2", "--yes", *shares]  # fmt: skip
    log = tmp_path / "activations.log"
    refused = run_tcr(base)
    assert refused.returncode == 2 and "--no-ledger" in one_error_line(refused)
    assert not log.exists() and not list(new.iterdir())  # refused before anything was done
    done = run_tcr([*base, "--no-ledger"])
    assert done.returncode == 0, done.stderr
    assert f"recorded only in {log}" in done.stderr
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["hsm.rekey"]
    assert lines[0]["payload"]["new_share_set"] == "set-epoch-2"
    # The rekey event and its report name the site file (module, environment) used.
    assert lines[0]["payload"]["site_sha256"] == hsm.loaded.site_sha256
    assert f"site file SHA-256: {hsm.loaded.site_sha256}" in done.stdout
    assert log.stat().st_mode & 0o777 == 0o600
    marker_epoch = run_tcr(
        [*ACT, "--config", str(hsm.config_path), "-q", *shares, "--", "true"]
    )  # the old shares are retired now: the rekey really happened
    assert marker_epoch.returncode == 3
