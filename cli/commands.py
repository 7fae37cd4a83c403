"""The command table of ``tcr``: importable without click, so ``tcr --help`` starts fast."""

from __future__ import annotations

VERSION_PROG = "tcr"

ROOT_DOC = """tcr-kit: threshold credentials for key ceremonies.

\b
Exit codes: 0 ok, 1 operational failure, 2 usage error,
3 integrity failure, 4 quorum not met."""

# name -> ("module:attribute", one-line help). Imported only when the command is used.
COMMANDS: dict[str, tuple[str, str]] = {
    "card": ("cli.card:card", "Enrol, check, rotate and wipe TCR smartcards and tokens."),
    "shares": ("cli.shares:shares", "Split secrets into shares, combine, inspect, convert."),
    "roster": ("cli.roster:roster", "People (TCRs and staff) and their public keys."),
    "key": ("cli.roster:key", "Generate and show software Ed25519 signing keys."),
    "credential": ("cli.custody:credential", "Register and list credentials."),
    "bag": ("cli.custody:bag", "Tamper-evident bags: seal, ship, receive, inspect, open, reseal."),
    "remote": ("cli.remote:remote", "Remote participation: signed seal attestations."),
    "discrepancy": ("cli.custody:discrepancy", "Record, list and resolve discrepancies."),
    "audit": ("cli.audit:audit", "Verify, export and checkpoint the signed audit log."),
    "status": ("cli.custody:status", "A TCR's own view of their credentials and bags."),
    "hsm": ("cli.hsm:hsm", "Activate an HSM with m of n shares; quorum readiness."),
}
