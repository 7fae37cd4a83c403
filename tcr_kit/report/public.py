"""What the public report may say about a ledger: the redaction rule, as code.

Everything the site shows goes through :func:`public_record` or :func:`public_event`, which
keep **only** the fields on the allow-lists below (see ``docs/report.md``). A field that is
not listed is never shown, whatever it holds, so a new field added to a record stays private
until someone decides otherwise and lists it here.

Never public (not listed, so never shown): PINs, shares and any secret (the ledger does not
hold them), key material and enrolment records, people's names, notes, safe-deposit box
numbers and any place that is not a facility, shipment senders, recipients and tracking
numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "EVENT_FIELDS",
    "LOCATION_FIELDS",
    "PAYLOAD_FIELDS",
    "PRESENTED_FIELDS",
    "RECORD_FIELDS",
    "private_transcript_fields",
    "public_event",
    "public_record",
]

RECORD_FIELDS: Mapping[str, frozenset[str]] = {
    "person": frozenset({"id", "roles", "facility", "retired"}),
    "share_set": frozenset({"id", "m", "n", "purpose", "epoch", "status"}),
    "credential": frozenset(
        {"id", "kind", "serial", "holder", "share_set", "share_index", "state", "bag"}
    ),
    "bag": frozenset(
        {
            "serial",
            "kind",
            "contents",
            "state",
            "location",
            "holder",
            "sealed_by",
            "sealed_at",
            "seal_witness",
            "attestation_sha256",
            "replaces",
            "replaced_by",
        }
    ),
    "shipment": frozenset(
        {"id", "bag", "carrier", "shipped_at", "shipped_by", "received_at", "received_by"}
    ),
    "inspection": frozenset(
        {
            "id",
            "bag",
            "serial_expected",
            "serial_read",
            "checklist",
            "photo_sha256",
            "inspector",
            "witness",
            "at",
            "ceremony",
            "step",
        }
    ),
    "discrepancy": frozenset(
        {
            "id",
            "category",
            "severity",
            "description",
            "objects",
            "ceremony",
            "step",
            "opened_at",
            "opened_by",
            "status",
            "resolution",
            "resolved_by",
            "resolved_at",
            "overrides",
            "source",
        }
    ),
    "ceremony": frozenset(
        {
            "number",
            "facility",
            "date",
            "participants",
            "steps",
            "script",
            "attendance",
            "rehearsal",
            "config_sha256",
            "site_sha256",
            "rehearsed_in",
            "status",
            "opened_by",
            "closed_at",
            "closed_by",
        }
    ),
    "artifact": frozenset(
        {"name", "drive", "tranches", "registered_at", "registered_by", "ceremony"}
    ),
    "artifact_release": frozenset(
        {
            "key",
            "artifact",
            "tranche",
            "released_at",
            "released_by",
            "witness",
            "drive",
            "bag",
            "drive_opened_in",
            "ceremony",
            "files",
        }
    ),
}
"""Table -> the fields of its records that are public."""

LOCATION_FIELDS = frozenset({"kind", "facility", "safe"})
"""A location's public fields: never a box number or a person's own place. A location of
kind ``safe-deposit-box`` (a TCR's bank) shows as its kind alone."""

EVENT_FIELDS = frozenset({"seq", "time", "actor", "kind", "subjects"})
"""An audit event's public fields (the hash is added by the report)."""

PAYLOAD_FIELDS = frozenset(
    {
        "witness",
        "serial_read",
        "override_by",
        "discrepancies",
        "ceremony",
        "old",
        "new",
        "outcome",
        "purpose",
        "imported",
        "artifact",
        "tranche",
    }
)
"""Payload details shown beside an event (besides the allowed records)."""

PRESENTED_FIELDS = frozenset(
    {"kind", "set_id", "index", "card_serial", "credential", "holder", "tcr_id"}
)
"""What the report shows of a credential presented to an HSM (never its share digest's
source file, never a name)."""

_SUBJECT_TYPES = frozenset(
    {
        "bag",
        "credential",
        "person",
        "share-set",
        "shipment",
        "inspection",
        "discrepancy",
        "ceremony",
        "hsm",
        "artifact",
        "artifact-release",
    }
)


def _location(loc: Mapping[str, Any]) -> dict[str, Any]:
    if loc.get("kind") == "safe-deposit-box":
        return {"kind": "safe-deposit-box"}
    return {k: v for k, v in loc.items() if k in LOCATION_FIELDS and v is not None}


def public_record(table: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The public fields of one record of ``table`` (empty for a table not listed)."""
    allowed = RECORD_FIELDS.get(table, frozenset())
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in allowed:
            continue
        out[key] = _location(value) if key == "location" and isinstance(value, dict) else value
    return out


def public_event(body: Mapping[str, Any], hash_hex: str) -> dict[str, Any]:
    """An audit event as the report shows it: allowed fields, allowed payload details, its
    records through :func:`public_record`, presented credentials through the allow-list."""
    out = {k: body[k] for k in EVENT_FIELDS if k in body}
    out["subjects"] = [s for s in body.get("subjects", []) if s.split(":", 1)[0] in _SUBJECT_TYPES]
    out["hash"] = hash_hex
    payload = body.get("payload", {})
    if not isinstance(payload, dict):
        return out
    details = {k: payload[k] for k in PAYLOAD_FIELDS if k in payload}
    details = {k: v for k, v in details.items() if isinstance(v, (str, int, list)) or v is None}
    if details:
        out["details"] = details
    records = []
    for rec in payload.get("records", []) or []:
        if isinstance(rec, dict) and isinstance(rec.get("doc"), dict):
            table = str(rec.get("table"))
            if table in RECORD_FIELDS:
                records.append(
                    {
                        "table": table,
                        "key": str(rec.get("key")),
                        "doc": public_record(table, rec["doc"]),
                    }
                )
    if records:
        out["records"] = records
    presented = payload.get("presented")
    if isinstance(presented, list):
        out["presented"] = [
            {k: p[k] for k in PRESENTED_FIELDS if k in p} for p in presented if isinstance(p, dict)
        ]
    hsm = payload.get("hsm")
    if isinstance(hsm, dict):
        out["hsm"] = {k: hsm[k] for k in ("name", "token_serial") if k in hsm}
    return out


_REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,32}$")


def _reference(value: object) -> bool:
    """A short reference (``B-7``, ``tcr-7``), not an address; ``None`` counts as one."""
    return value is None or (isinstance(value, str) and bool(_REFERENCE.fullmatch(value)))


def private_transcript_fields(
    bodies: Iterable[Mapping[str, Any]], public_names: set[str]
) -> list[str]:
    """Why a transcript cannot be published as it is: the private places it would carry
    (its events are signed, so they cannot be redacted): a box or a shipment's sender or
    recipient written as an address rather than a short reference (``B-7``). ``public_names``
    (roster ids, facility names) are always fine."""
    found: list[str] = []
    for body in bodies:
        payload = body.get("payload", {})
        for rec in payload.get("records", []) if isinstance(payload, dict) else []:
            doc = rec.get("doc") if isinstance(rec, dict) else None
            if not isinstance(doc, dict):
                continue
            loc = doc.get("location")
            if isinstance(loc, dict) and not _reference(loc.get("box")):
                found.append(f"event {body.get('seq')}: a box recorded as an address")
            if rec.get("table") == "shipment":
                for k in ("sender", "recipient"):
                    value = doc.get(k)
                    if value is not None and value not in public_names and not _reference(value):
                        found.append(f"event {body.get('seq')}: a shipment {k} address")
    return found
