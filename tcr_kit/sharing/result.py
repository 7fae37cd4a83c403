"""What a combine returns besides the secret: which shares it used and what it could not check."""

from __future__ import annotations

from dataclasses import dataclass, field

from tcr_kit.secrets import SecretBuffer


@dataclass
class CombineResult:
    """The recovered secret (wipe it when done) and a report fit to print.

    ``verified`` is False for foreign formats, which carry no integrity data: the secret is
    whatever the shares interpolate to. ``warnings`` are complete sentences for the user.
    """

    secret: SecretBuffer
    verified: bool
    used: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def record(self) -> dict[str, object]:
        """The report as a JSON-ready dict (never the secret)."""
        return {
            "verified": self.verified,
            "used": self.used,
            "rejected": self.rejected,
            "warnings": self.warnings,
        }
