"""A child process for the kill-at-every-step test (run as a script, not collected).

usage: killer.py LEDGER OPERATION STEP KEYDIR
Runs one custody change (OPERATION, see ``OPERATIONS``) on LEDGER and SIGKILLs itself just
before the STEP-th SQL statement it sends to SQLite (STEP 0: never; it then prints the
number of statements it ran). Real SQLite, real files: the kill is the only thing injected.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.lifecycle import CredentialAction
from tcr_kit.custody.models import (
    Credential,
    CredentialKind,
    DiscrepancyCategory,
    Location,
    LocationKind,
    Person,
    Role,
    Severity,
    ShareSet,
)

SAFE = Location(kind=LocationKind.SAFE, facility="east", safe="credential-safe", box="7")
NEW = SoftwareEd25519Signer.generate()


def _ops(keys: Path) -> dict[str, Callable[[Ledger], object]]:
    def load(name: str) -> SoftwareEd25519Signer:
        return SoftwareEd25519Signer.load(keys / f"{name}.pem")

    sa, ca = Actor("sa-1", load("sa")), Actor("ca-1", load("ca"))
    new_key = load("new")
    return {
        "person.add": lambda led: led.add_person(
            sa,
            Person(
                id="co-9",
                name="CO 9",
                roles=(Role.CO,),
                public_key=new_key.public_key_bytes().hex(),
                key_algorithm="ed25519",
                facility="east",
            ),
        ),
        "person.retire": lambda led: led.retire_person(sa, "iw-1"),
        "person.rekey": lambda led: led.replace_key(sa, "iw-1", new_key.public_key_bytes()),
        "credential.add": lambda led: led.add_credential(
            ca, Credential(id="USB-9", kind=CredentialKind.USB_DRIVE, serial="SN-9")
        ),
        "bag.seal": lambda led: (
            led.use_cosigners([WitnessSigner("iw-1", load("iw"))]),
            led.seal_bag(ca, "TEB-9009", ["CO3-KEY"], witness="iw-1", location=SAFE),
        ),
        "audit.checkpoint": lambda led: led.checkpoint(ca),
        # Files land in KEYDIR/../out; a rerun keeps those identical to the registered ones.
        "artifact.release": lambda led: (
            led.use_cosigners([WitnessSigner("iw-1", load("iw"))]),
            led.release_tranche(
                ca,
                "skr",
                "Q1",
                witness="iw-1",
                source=keys.parent / "drive",
                output_dir=_out(keys.parent / "out"),
            ),
        ),
        "credential.retire": lambda led: led.credential_action(
            ca, "CO3-KEY", CredentialAction.RETIRE
        ),
        "share-set.add": lambda led: led.add_share_set(
            sa, ShareSet(id="hsm-k-9", m=2, n=3, purpose="activation of HSM K", epoch=1)
        ),
        "discrepancy.open": lambda led: led.add_discrepancy(
            ca,
            category=DiscrepancyCategory.PROCEDURE,
            severity=Severity.LOW,
            description="killed while recording",
            objects=["credential:CO3-KEY"],
        ),
    }


def _out(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    return folder


def main() -> None:
    ledger, operation, step, keys = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    ops = _ops(keys)
    count = 0
    real_connect = sqlite3.connect

    def trace(_statement: str) -> None:
        nonlocal count
        count += 1
        if count == step:
            os.kill(os.getpid(), signal.SIGKILL)

    def connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        conn.set_trace_callback(trace)
        return conn

    sqlite3.connect = connect  # type: ignore[assignment]
    with Ledger.open(ledger, create=False) as led:
        ops[operation](led)
    print(count)


if __name__ == "__main__":
    main()
