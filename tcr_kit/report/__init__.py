"""The public report (issue 13): a static site read off the ledger through field
allow-lists, its feed of signed heads with consistency proofs, the ten-year discrepancy
charts and printable PDF forms. See ``docs/report.md``.

The names in ``__all__`` are the public API; they resolve on first use (PEP 562), so
importing the package costs neither pygal nor fpdf2.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tcr_kit.report.assumptions import assumption_for, load_assumptions
    from tcr_kit.report.autopublish import (
        AutoPublish,
        AutoPublished,
        auto_publish,
        auto_publish_setting,
        set_auto_publish,
    )
    from tcr_kit.report.feed import (
        CosignaturesAdded,
        FeedBroken,
        PublishResult,
        SiteVerified,
        add_cosignatures,
        feed_consistency_proof,
        publish,
        verify_site,
    )
    from tcr_kit.report.forms import (
        bag_inspection_pdf,
        ceremony_script_pdf,
        expected_bags,
        handover_receipt_pdf,
        share_sheet_pdf,
    )
    from tcr_kit.report.model import ReportData, read_report
    from tcr_kit.report.public import private_transcript_fields, public_event, public_record
    from tcr_kit.report.site import SiteResult, build_site

_NAMES = {
    "AutoPublish": "autopublish",
    "AutoPublished": "autopublish",
    "auto_publish": "autopublish",
    "auto_publish_setting": "autopublish",
    "set_auto_publish": "autopublish",
    "assumption_for": "assumptions",
    "load_assumptions": "assumptions",
    "CosignaturesAdded": "feed",
    "add_cosignatures": "feed",
    "feed_consistency_proof": "feed",
    "FeedBroken": "feed",
    "PublishResult": "feed",
    "SiteVerified": "feed",
    "publish": "feed",
    "verify_site": "feed",
    "bag_inspection_pdf": "forms",
    "ceremony_script_pdf": "forms",
    "expected_bags": "forms",
    "handover_receipt_pdf": "forms",
    "share_sheet_pdf": "forms",
    "ReportData": "model",
    "read_report": "model",
    "private_transcript_fields": "public",
    "public_event": "public",
    "public_record": "public",
    "SiteResult": "site",
    "build_site": "site",
}

__all__ = [
    "AutoPublish",
    "AutoPublished",
    "CosignaturesAdded",
    "FeedBroken",
    "PublishResult",
    "ReportData",
    "SiteResult",
    "SiteVerified",
    "add_cosignatures",
    "assumption_for",
    "auto_publish",
    "auto_publish_setting",
    "bag_inspection_pdf",
    "build_site",
    "ceremony_script_pdf",
    "expected_bags",
    "feed_consistency_proof",
    "handover_receipt_pdf",
    "load_assumptions",
    "private_transcript_fields",
    "public_event",
    "public_record",
    "publish",
    "read_report",
    "set_auto_publish",
    "share_sheet_pdf",
    "verify_site",
]


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'tcr_kit.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tcr_kit.report.{module}"), name)
    globals()[name] = value
    return value
