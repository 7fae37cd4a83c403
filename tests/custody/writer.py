"""A writer process for the kill and concurrency tests (run as a script, not collected).

usage: writer.py LEDGER KEYFILE ACTOR PREFIX COUNT
Adds COUNT credentials PREFIX-0.. one change at a time and prints each id once committed.
"""

from __future__ import annotations

import sys

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Credential, CredentialKind


def main() -> None:
    ledger_path, key_file, actor_id, prefix, count = sys.argv[1:6]
    who = Actor(actor_id, SoftwareEd25519Signer.load(key_file))
    with Ledger.open(ledger_path, create=False) as led:
        for i in range(int(count)):
            cid = f"{prefix}-{i}"
            led.add_credential(
                who,
                Credential(id=cid, kind=CredentialKind.USB_DRIVE, serial=f"SN-{cid}"),
            )
            sys.stdout.write(cid + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
