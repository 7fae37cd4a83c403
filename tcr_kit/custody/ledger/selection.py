"""Kept for old imports: event selection lives in :mod:`tcr_kit.audit.selection`."""

from tcr_kit.audit.selection import EventSelection, parse_utc

__all__ = ["EventSelection", "parse_utc"]
