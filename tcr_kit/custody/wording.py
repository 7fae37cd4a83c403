"""How a record's state is put in words, from plain values.

The pydantic records (:mod:`tcr_kit.custody.models`) and the reader that builds none
(:mod:`tcr_kit.custody.status`, ``tcr status``) both say where a bag is and how an
inspection went; the wording lives here once so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["describe_location", "inspection_outcome"]


def describe_location(
    kind: str,
    *,
    facility: str | None = None,
    safe: str | None = None,
    box: str | None = None,
    person: str | None = None,
    shipment: str | None = None,
) -> str:
    """For people: "facility east", "safe credential-safe box 7 at east", "with tcr-3",
    "in transit (shipment S-0001)". ``kind`` is a location kind's value."""
    if kind == "with-person":
        text = f"with {person}"
    elif kind == "in-transit":
        text = f"in transit (shipment {shipment})"
    elif kind == "facility":
        return f"facility {facility}"
    else:
        text = " ".join(
            f"{name} {value}" for name, value in (("safe", safe), ("box", box)) if value is not None
        )
    return f"{text} at {facility}" if facility else text


def inspection_outcome(
    serial_read: str, serial_expected: str, checklist: Mapping[str, bool]
) -> str:
    """``serial-mismatch``, ``tamper-evidence`` (a checklist item failed) or ``intact``."""
    if serial_read != serial_expected:
        return "serial-mismatch"
    return "intact" if all(checklist.values()) else "tamper-evidence"
