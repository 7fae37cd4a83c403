"""Activate an HSM with m share files and sign one file: an activation script.

Usage: python activation_script.py HSM.toml INPUT OUTPUT.sig SHARE [SHARE ...]

Exit codes are tcr-kit's: 1 operational, 2 usage, 3 integrity, 4 quorum not met.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tcr_kit.errors import TcrError
from tcr_kit.hsm import Activation, ShareFile, SignRequest, load_config


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    config, data, output, *shares = (Path(a) for a in argv)
    try:
        loaded = load_config(config)  # validated; loaded.sha256 goes into the audit events
        # Reads INPUT and refuses an existing OUTPUT now, before any share is read.
        request = SignRequest.prepare("ksk-demo", data, output)
        activation = Activation(loaded)  # add ledger=..., actor=... to record in the ledger
        signed = request.sign(activation, [ShareFile(p) for p in shares])
        # logged out; every share, the secret and the PIN are wiped; OUTPUT written atomically
    except TcrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    for event in activation.events:  # typed ActivationEvent objects
        print(event.kind, event.outcome, [p.index for p in event.presented])
    print(f"signature sha256 {signed.signature_sha256}")
    print(f"config sha256 {loaded.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
