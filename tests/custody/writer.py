"""A writer process for the kill and concurrency tests (run as a script, not collected).

usage: writer.py LEDGER KEYFILE ACTOR PREFIX COUNT [race]
Adds COUNT credentials PREFIX-0.. one change at a time and prints each id once committed.
With ``race``, after adding credential i it also tries to seal it into bag RACE-i (which
the other racer tries too) and prints ``won RACE-i`` or ``lost RACE-i``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Credential, CredentialKind, Location, LocationKind
from tcr_kit.errors import InputError


def main() -> None:
    ledger_path, key_file, actor_id, prefix, count = sys.argv[1:6]
    race = sys.argv[6:] == ["race"]
    who = Actor(actor_id, SoftwareEd25519Signer.load(key_file))
    safe = Location(kind=LocationKind.SAFE, facility="east", safe="cs")
    with Ledger.open(ledger_path, create=False) as led:
        # The witness's key lies beside the actor's: the witness co-signs each seal.
        iw_key = SoftwareEd25519Signer.load(Path(key_file).with_name("iw.pem"))
        led.use_cosigners([WitnessSigner("iw-1", iw_key)])
        for i in range(int(count)):
            cid = f"{prefix}-{i}"
            led.add_credential(
                who,
                Credential(id=cid, kind=CredentialKind.USB_DRIVE, serial=f"SN-{cid}"),
            )
            sys.stdout.write(cid + "\n")
            if race:
                try:
                    led.seal_bag(who, f"RACE-{i}", [cid], witness="iw-1", location=safe)
                    sys.stdout.write(f"won RACE-{i}\n")
                except InputError:
                    sys.stdout.write(f"lost RACE-{i}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
