"""A child process for the rekey kill test (run as a script, not collected).

usage: rekey_killer.py CONFIG NEW_DIR LEDGER KEY STEP SHARE...
Rekeys the HSM of CONFIG (2-of-3 new shares in NEW_DIR, the ledger LEDGER signed with the
Ed25519 key KEY as actor "ca") from the old SHAREs, and SIGKILLs itself right after the
durable step STEP ("none": never). Nothing runs after the kill: no ``finally``, no rollback
by Python, no flush; what the HSM, the files and the ledger hold is what a crash leaves.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.rekey import rekey

HOLDERS = tuple(f"tcr-{i}" for i in range(1, 6))


def main() -> None:
    config, new_dir, ledger_path, key, step, *shares = sys.argv[1:]
    loaded = load_config(Path(config))
    actor = Actor("ca", SoftwareEd25519Signer.load(Path(key)))

    def after(done: str) -> None:
        if done == step:
            os.kill(os.getpid(), signal.SIGKILL)

    with Ledger.open(Path(ledger_path), create=False) as ledger:
        rekey(
            # Every TCR is in the room (hsm_helpers.custody_ledger's ceremony 1).
            Activation(loaded, ledger=ledger, actor=actor, in_person=HOLDERS),
            lambda: Activation(loaded).collect([ShareFile(Path(p)) for p in shares]),
            threshold=2,
            count=3,
            output_dir=Path(new_dir),
            new_share_set_id="set-e2",
            confirm=lambda _result: True,
            after_step=after,
        )
    print("done")


if __name__ == "__main__":
    main()
