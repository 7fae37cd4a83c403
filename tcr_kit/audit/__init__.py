"""Hash-chained, signed audit events; checkpoints; transcripts; PGP-word fingerprints.

This package knows nothing of ledgers, cards or HSMs: it stores opaque event payloads
(JSON objects) in a SQLite table given to it, chains them with SHA-256 and signs them with
the acting person's key. ``tcr_kit.custody`` is its user.
"""
