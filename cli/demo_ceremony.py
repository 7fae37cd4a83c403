"""The ceremony part of the demo: an HSM activated by 3 of 7 TCR cards, with custody.

``run_ceremony(demo)`` uses the :class:`tcr_cli.demo.Demo` helper (``demo.step``, ``demo.run``,
``demo.out``) and raises :class:`tcr_cli.demo.DemoFailed` on any surprise. Everything lives in
``demo.out``: a private SoftHSM2 token directory (``SOFTHSM2_CONF`` points there while the
ceremony runs) holding the HSM and seven TCR cards, the ledger, keys, shares, records.

Demo-only shortcuts, said aloud in the transcript: the cards' transport PIN and SO PIN are
fixed demo values given to ``softhsm2-util`` (which takes PINs only in its argv); the TCRs'
PINs are in 0600 files in the demo folder instead of being typed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tcr_kit.fileio import atomic_output

from .demo import Demo, DemoFailed

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TRANSPORT_PIN = "123456"  # demo transport PIN of a blank card
CARD_SO_PIN = "87654321"  # demo SO PIN of the cards
THRESHOLD, COUNT = 3, 7
CEREMONY = "1"
CA = ("--as", "ca-1", "--key", "keys/ca.pem")
SET_ID = "hsm-e-activation"


@contextmanager
def _environment(out: Path) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("SOFTHSM2_CONF", "TCR_LEDGER", "TCR_AS", "TCR_KEY")}
    os.environ["SOFTHSM2_CONF"] = str(out / "softhsm2.conf")
    os.environ["TCR_LEDGER"] = str(out / "ledger.sqlite")
    os.environ.pop("TCR_AS", None)
    os.environ.pop("TCR_KEY", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _secret(path: Path, value: str) -> Path:
    with atomic_output(path) as fh:
        fh.write(value.encode() + b"\n")
    return path


def _json(proc: object) -> dict[str, object]:
    stdout = getattr(proc, "stdout", b"")
    try:
        return dict(json.loads(stdout))
    except ValueError as exc:
        raise DemoFailed(f"expected JSON output: {exc}") from None


def run_ceremony(demo: Demo) -> None:
    if not os.path.isfile(SOFTHSM_MODULE):
        raise DemoFailed("SoftHSM2 is not installed (scripts/setup.sh installs it)")
    with _environment(demo.out):
        _run(demo)


def _run(demo: Demo) -> None:
    from tcr_kit.audit.pgpwords import fingerprint

    out = demo.out
    for sub in ("tokens", "keys", "shares", "cards", "pins", "bags"):
        (out / sub).mkdir()
    (out / "softhsm2.conf").write_text(
        f"directories.tokendir = {out / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    config = out / "hsm.toml"
    from tcr_kit.hsm.config import render_config, render_site

    site_env = {"SOFTHSM2_CONF": str(out / "softhsm2.conf")}
    config.write_text(
        render_config(
            name="HSM-E",
            module=SOFTHSM_MODULE,
            token_label="KSK-HSM-E",  # noqa: S106 - a token label, not a password
            share_set_id=SET_ID,
            threshold=THRESHOLD,
            count=COUNT,
            env=site_env,
            site="hsm-site.toml",
        )
    )
    (out / "hsm-site.toml").write_text(render_site(module=SOFTHSM_MODULE, env=site_env))

    demo.step("create the HSM (SoftHSM2): user PIN from a fresh secret split 3-of-7")
    print(
        f"  config {config.name} (shared) naming its site file hsm-site.toml "
        "(module, private SOFTHSM2_CONF in the demo folder)"
    )
    demo.run(["hsm", "init", "--config", "hsm.toml", "-m", THRESHOLD, "-n", COUNT,
              "--output-dir", "shares", "--dry-run"])  # fmt: skip
    init = _json(demo.run(["hsm", "init", "--config", "hsm.toml", "-m", THRESHOLD, "-n",
                           COUNT, "--output-dir", "shares", "--json"]))  # fmt: skip
    share_files = [Path(str(p)) for p in init["share_files"]]  # type: ignore[attr-defined]
    public_der = bytes.fromhex(str(init["public_key_der"]))

    demo.step("make 7 blank TCR cards (SoftHSM2 tokens with a demo transport PIN)")
    print("  (demo only: softhsm2-util takes the transport and SO PINs in its argv)")
    for i in range(1, COUNT + 1):
        demo.run(["softhsm2-util", "--init-token", "--free", "--label", f"TCR-CARD-{i}",
                  "--so-pin", CARD_SO_PIN, "--pin", TRANSPORT_PIN], tcr=False,
                 show_stdout=False)  # fmt: skip

    demo.step("staff and TCR keys; the roster")
    keys: dict[str, str] = {}
    for name in ("sa", "ca", "iw", *(f"tcr-{i}" for i in range(1, COUNT + 1))):
        proc = demo.run(["key", "generate", "--output", f"keys/{name}.pem", "--json"],
                        show_stdout=False)  # fmt: skip
        keys[name] = str(_json(proc)["public_key"])
    demo.run(["roster", "init", "--id", "sa-1", "--name", "System Administrator", "--role",
              "SA", "--key", "keys/sa.pem"])  # fmt: skip
    sa = ("--as", "sa-1", "--key", "keys/sa.pem")
    for pid, role, key in (("ca-1", "CA", "ca"), ("iw-1", "IW", "iw")):
        demo.run(["roster", "add", *sa, "--id", pid, "--name", pid.upper(), "--role", role,
                  "--public-key", keys[key]], show_stdout=False)  # fmt: skip
    for i in range(1, COUNT + 1):
        demo.run(["roster", "add", *sa, "--id", f"tcr-{i}", "--name", f"TCR {i}", "--role",
                  "CO", "--facility", "east", "--public-key", keys[f"tcr-{i}"]],
                 show_stdout=False)  # fmt: skip
    demo.run(["hsm", "register-set", "--config", "hsm.toml", *CA])

    demo.step("enrol one share on each card, register each card in the ledger")
    transport = _secret(out / "pins" / "transport", TRANSPORT_PIN)
    for i, share in enumerate(share_files, 1):
        pin = _secret(out / "pins" / f"tcr-{i}", f"tcr-{i}-pin-{i}{i}{i}")
        record = f"cards/tcr-{i}.json"
        demo.run(["card", "enrol", "--pkcs11-module", SOFTHSM_MODULE, "--token-label",
                  f"TCR-CARD-{i}", "--share", share, "--tcr-name", f"TCR {i}", "--tcr-id",
                  f"tcr-{i}", "--record", record, "--pin-file", transport,
                  "--new-pin-file", pin, "-q"], show_stdout=False)  # fmt: skip
        serial = json.loads((out / record).read_text())["card"]["serial"]
        demo.run(["credential", "add", *CA, "--id", f"card-{i}", "--kind", "smartcard",
                  "--serial", serial, "--holder", f"tcr-{i}", "--share-set", SET_ID,
                  "--share-index", i, "--record", record], show_stdout=False)  # fmt: skip
    print("  7 cards enrolled and registered; the plain share files are now destroyed")
    for path in share_files:
        (out / path).unlink()

    demo.step("remote participation: TCR 7 seals their card at home and ships it")
    att = "bags/teb-7007-attestation.json"
    demo.run(["remote", "seal", "--holder", "tcr-7", "--serial", "TEB-7007", "--contents",
              "card-7", "--key", "keys/tcr-7.pem", "--output", att])  # fmt: skip
    demo.run(["bag", "ship", "TEB-7007", *CA, "--carrier", "courier", "--tracking", "CX-7",
              "--from", "tcr-7", "--to", "east", "--attestation", att])  # fmt: skip
    demo.run(["hsm", "readiness", "--config", "hsm.toml"])

    demo.step("open ceremony 1: who is in the room, who takes part remotely")
    demo.run(["ceremony", "open", CEREMONY, *CA, "--facility", "east", "--present", "ca-1:CA",
              "--present", "iw-1:IW", "--present", "tcr-1:CO", "--present", "tcr-4:CO",
              "--remote", "tcr-7:CO"])  # fmt: skip

    demo.step("the bag arrives: receive, inspect (witnessed), open")
    c = ("--ceremony", CEREMONY)
    demo.run(["bag", "receive", "TEB-7007", *CA, *c, "--serial-read", "TEB-7007",
              "--facility", "east", "--attestation", att])  # fmt: skip
    print("  (the TCR may not inspect their own bag: the policy refuses, exit 5)")
    demo.run(["bag", "inspect", "TEB-7007", "--as", "tcr-7", "--key", "keys/tcr-7.pem", *c,
              "--serial-read", "TEB-7007", "--check", "seal-intact=ok", "--witness", "iw-1"],
             expect=5)  # fmt: skip
    print("  (the witness co-signs each event with their own key)")
    iw = ("--witness", "iw-1")
    demo.run(["bag", "inspect", "TEB-7007", *CA, *c, "--serial-read", "teb-7007", "--check",
              "seal-intact=ok", "--check", "no-cuts=ok", *iw, "--witness-key",
              "keys/iw.pem"])  # fmt: skip
    print("  (or from another machine: the exact event goes to the witness, who signs it)")
    opening = ["bag", "open", "TEB-7007", *CA, *c, "--serial-read", "TEB-7007", *iw]
    demo.run([*opening, "--dry-run", "--signing-request", "bags/open.request.json"])
    demo.run(["witness", "sign", "bags/open.request.json", "--as", "iw-1", "--key",
              "keys/iw.pem", "--output", "bags/open.iw-1.json"])  # fmt: skip
    demo.run([*opening, "--witness-signature", "bags/open.iw-1.json"])

    demo.step("two cards are not enough (exit 4, says how many more)")
    zone = out / "zone.txt"
    zone.write_text("example. 3600 IN DNSKEY 257 3 13 (demo KSK)\n")

    def card(i: int) -> list[str]:
        return ["--card", f"record=cards/tcr-{i}.json,pin-file=pins/tcr-{i}"]

    # TCR 1 and 4 present their own cards in the room; card 7 came out of its bag, inspected
    # intact and opened in this ceremony.
    base = ["hsm", "activate", "--config", "hsm.toml", "--pkcs11-module", SOFTHSM_MODULE,
            "--in-person", "tcr-1", "--in-person", "tcr-4"]  # fmt: skip
    sign = ["--sign-key", "ksk-demo", "--input", "zone.txt", "--output", "zone.sig"]
    demo.run([*base, *card(1), *card(4), *sign, *CA, *c], expect=4)

    demo.step("activate the HSM with the cards of TCR 1, 4 and 7 and sign the zone file")
    demo.run([*base, *card(1), *card(4), *card(7), *sign, *CA, *c])
    _verify_signature(public_der, zone.read_bytes(), (out / "zone.sig").read_bytes())

    demo.step("quorum readiness")
    demo.run(["hsm", "readiness", "--config", "hsm.toml"])

    demo.step("export the ceremony's transcript and verify it offline")
    note = "checkpoint-ceremony-1.note"
    proc = demo.run(["audit", "checkpoint", "--as", "iw-1", "--key", "keys/iw.pem",
                     "--output", note, "--site", "demo"])  # fmt: skip
    demo.run(["audit", "export", "--output", "transcript-ceremony-1.json", "--ceremony",
              CEREMONY])  # fmt: skip
    demo.run(["audit", "verify", "--transcript", "transcript-ceremony-1.json"])

    demo.step("a receipt for TCR 4: their ceremony events, checked offline against the note")
    vkey = proc.stdout.decode().split("verifier key: ")[1].split()[0]
    demo.run(["audit", "receipt", "--as", "tcr-4", "--ceremony", CEREMONY, "--checkpoint",
              note, "--output", "receipt-tcr-4.json"])  # fmt: skip
    demo.run(["audit", "check-receipt", "receipt-tcr-4.json", "--checkpoint", note, "--key",
              vkey])  # fmt: skip

    demo.step("summary: fingerprints to read aloud")
    items = [
        ("HSM config hsm.toml", config.read_bytes()),
        ("HSM signing key ksk-demo (DER public key)", public_der),
        ("signature zone.sig", (out / "zone.sig").read_bytes()),
        ("transcript-ceremony-1.json", (out / "transcript-ceremony-1.json").read_bytes()),
    ]
    for what, data in items:
        hex_, words = fingerprint(data)
        print(f"  {what}\n    sha256 {hex_}\n    {words}")


def _verify_signature(public_der: bytes, data: bytes, signature: bytes) -> None:
    from tcr_kit.audit.signing import ECDSA_P256, SignatureInvalid, verify_signature

    try:
        verify_signature(ECDSA_P256, public_der, data, signature)
    except SignatureInvalid:
        raise DemoFailed("the HSM's signature does not verify") from None
    print("  signature verified with the HSM key's public half: ok")
