"""The command table of ``tcr``: importable without click, so ``tcr --help`` starts fast."""

from __future__ import annotations

VERSION_PROG = "tcr"

ROOT_DOC = """tcr-kit: threshold credentials for key ceremonies.

\b
Exit codes: 0 ok, 1 operational failure, 2 usage error,
3 integrity failure, 4 quorum not met, 5 not permitted."""

# name -> ("module:attribute", one-line help). Imported only when the command is used.
COMMANDS: dict[str, tuple[str, str]] = {
    "card": (
        "tcr_cli.card:card",
        "Enrol, check, rotate and wipe TCR smartcards and tokens.",
    ),
    "shares": (
        "tcr_cli.shares:shares",
        "Split secrets into shares, combine, inspect and convert them.",
    ),
    "roster": (
        "tcr_cli.roster:roster",
        "People (TCRs and staff) and their public keys.",
    ),
    "key": ("tcr_cli.roster:key", "Software Ed25519 signing keys (0600 files)."),
    "credential": (
        "tcr_cli.credential_lifecycle:credential",
        "Register, list, retire and replace credentials.",
    ),
    "bag": (
        "tcr_cli.bag:bag",
        "Tamper-evident bags: seal, ship, receive, inspect, open, reseal.",
    ),
    "remote": ("tcr_cli.remote:remote", "Remote participation: seal attestations signed by a TCR."),
    "discrepancy": (
        "tcr_cli.discrepancy:discrepancy",
        "Discrepancies (exceptions): record, list, resolve.",
    ),
    "policy": ("tcr_cli.policy:policy", "The custody policy: who may do what (docs/policy.md)."),
    "ceremony": (
        "tcr_cli.ceremony:ceremony",
        "Open a ceremony, record its steps, close it and publish its head.",
    ),
    "audit": ("tcr_cli.audit_log:audit", "The signed, hash-chained audit log."),
    "status": ("tcr_cli.custody:status", "A TCR's own view of their credentials and bags."),
    "hsm": ("tcr_cli.hsm:hsm", "Activate an HSM with m of n TCR shares; quorum readiness."),
    "approval": (
        "tcr_cli.approval:approval",
        "Remote approvals of an HSM activation by TCRs.",
    ),
    "help": (
        "tcr_cli.manual:help_command",
        "Show a command's help, or the man page (--man).",
    ),
    "witness": (
        "tcr_cli.witness:witness",
        "Witness a log (cosign checkpoints); co-sign custody events.",
    ),
    "report": (
        "tcr_cli.report:report",
        "The public report: a static site, a signed feed, printable forms.",
    ),
    "artifact": (
        "tcr_cli.artifact:artifact",
        "Pre-signed artifacts on a drive, released a tranche at a time.",
    ),
}

# ``tcr shares`` sub-commands kept outside cli/shares.py, imported only when used.
SHARES_COMMANDS: dict[str, tuple[str, str]] = {
    "combine": (
        "tcr_cli.shares_combine:combine",
        "Recover a secret from SHARE_FILES; native shares are verified first.",
    ),
    "convert": (
        "tcr_cli.shares_combine:convert",
        "Recombine SHARE_FILES and split the secret anew in another format.",
    ),
    "sign": (
        "tcr_cli.shares_manifest:sign_cmd",
        "Sign the manifest a split wrote, as the person who split.",
    ),
    "register": (
        "tcr_cli.shares_manifest:register_cmd",
        "Record a signed manifest (the split's, or an extension's revision) in the ledger.",
    ),
    "check": (
        "tcr_cli.shares_manifest:check_cmd",
        "Check one share alone: it belongs to the signed set of the manifest, at its index.",
    ),
    "extend": (
        "tcr_cli.shares_manifest:extend_cmd",
        "Make new shares of a set at new indices, from at least m of its shares.",
    ),
}

# ``tcr hsm`` sub-commands kept outside cli/hsm.py, imported only when used.
HSM_COMMANDS: dict[str, tuple[str, str]] = {
    "config-extend": (
        "tcr_cli.hsm_config:config_extend_cmd",
        "Raise the config's share count after 'tcr shares extend' (a new, recorded version).",
    ),
    "config-rekey": (
        "tcr_cli.hsm_config:config_rekey_cmd",
        "Name the new share set in the config after 'tcr hsm rekey' (a new, recorded version).",
    ),
}
