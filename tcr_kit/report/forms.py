"""Printable forms as PDF (fpdf2): the ceremony script with Initial and Time columns for the
Internal Witness, a bag inspection form prefilled with the expected serials, a paper share
sheet (text groups, label, set id, index, digest, QR code) and a TCR's hand-over receipt.

Each function returns the PDF as bytes; the caller writes it (a share sheet holds a share:
write it like any secret, 0600, and print it offline).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tcr_kit.clock import utcnow

if TYPE_CHECKING:
    from fpdf import FPDF

    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.sharing import NativeShare

__all__ = [
    "BagLine",
    "bag_inspection_pdf",
    "ceremony_script_pdf",
    "expected_bags",
    "handover_receipt_pdf",
    "share_sheet_pdf",
]


def _doc(title: str, subtitle: str) -> FPDF:
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(utcnow())
    pdf.set_title(title)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 5, subtitle, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    return pdf


def _table(
    pdf: FPDF, head: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]
) -> None:
    pdf.set_font("Helvetica", "", 9)
    with pdf.table(col_widths=tuple(widths), line_height=7, text_align="LEFT") as table:
        header = table.row()
        for h in head:
            header.cell(h)
        for r in rows:
            row = table.row()
            for c in r:
                row.cell(c)


def _signature_lines(pdf: FPDF, who: Sequence[str]) -> None:
    pdf.ln(8)
    pdf.set_font("Helvetica", "", 10)
    for w in who:
        pdf.cell(
            0,
            10,
            f"{w}: name ____________________  signature ____________________  time (UTC) ________",
            new_x="LMARGIN",
            new_y="NEXT",
        )


def _bytes(pdf: FPDF) -> bytes:
    return bytes(pdf.output())


def ceremony_script_pdf(title: str, steps: Sequence[str], *, facility: str = "") -> bytes:
    """The script, one numbered row per step, with empty Initial and Time (UTC) columns for
    the Internal Witness (a deviation: write its exception number E1, E2, ... in Initial)."""
    pdf = _doc(
        title,
        (f"Facility: {facility}. " if facility else "")
        + "Internal Witness: initial each step when done and write the UTC time. Record every "
        "deviation as an exception (E1, E2, ...) against its step.",
    )
    rows = [[str(i), step, "", ""] for i, step in enumerate(steps, 1)]
    _table(pdf, ["#", "Step", "Initial", "Time (UTC)"], rows, (8, 122, 25, 25))
    _signature_lines(pdf, ["Ceremony Administrator", "Internal Witness"])
    return _bytes(pdf)


@dataclass(frozen=True)
class BagLine:
    serial: str
    holder: str
    contents: str
    location: str


def expected_bags(ledger: Ledger, serials: Sequence[str] = ()) -> list[BagLine]:
    """The bags to inspect: those named, else every bag sealed now (expected serials come
    from the ledger, so the form shows what must be read off each bag)."""
    from tcr_kit.report.public import public_record

    bags = (
        [ledger.bag(s) for s in serials]
        if serials
        else [b for b in ledger.bags() if b.state.value in ("sealed", "in-transit", "received")]
    )
    out = []
    for b in bags:
        loc = public_record("bag", b.model_dump(mode="json")).get("location", {})
        out.append(
            BagLine(
                b.serial,
                b.holder or "",
                ", ".join(b.contents),
                " ".join(str(v) for v in loc.values()),
            )
        )
    return out


def bag_inspection_pdf(title: str, bags: Sequence[BagLine]) -> bytes:
    """One row per bag: the expected serial prefilled, the serial read, the tamper checks,
    the inspector's and witness's initials and the time, all to fill in by hand."""
    pdf = _doc(
        title,
        "Read each serial aloud, compare it with the expected one and write what "
        "you read. Any difference or sign of tampering: stop, record an exception.",
    )
    rows = [[b.serial, b.holder, b.contents, "", "", "", "", ""] for b in bags]
    _table(
        pdf,
        [
            "Expected serial",
            "Holder",
            "Contents",
            "Serial read",
            "Seal intact",
            "No cuts",
            "Inspector / witness",
            "Time (UTC)",
        ],
        rows,
        (28, 18, 30, 28, 16, 16, 26, 18),
    )
    _signature_lines(pdf, ["Inspector", "Witness"])
    return _bytes(pdf)


def share_sheet_pdf(share: NativeShare) -> bytes:
    """A share on paper: its text in groups (type it back with ``tcr shares``), label, set
    id, index, threshold, its SHA-256 digest (as in the ledger's records) and a QR code of
    the same text."""
    import qrcode

    text = share.encode_text()
    digest = share.digest().hex()
    pdf = _doc(
        f"Paper share {share.index} of {share.count}",
        "SECRET: keep this sheet in its tamper-evident bag. Anyone with "
        f"{share.threshold} sheets of this set can rebuild the secret.",
    )
    facts = [
        ("Label", share.label or ""),
        ("Set id", share.set_id_hex),
        ("Index", f"{share.index} (threshold {share.threshold} of {share.count})"),
        ("Digest (SHA-256)", f"{digest[:32]}\n{digest[32:]}"),
    ]
    pdf.set_font("Helvetica", "", 11)
    for k, v in facts:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(45, 7, k)
        pdf.set_font("Courier", "", 11)
        pdf.multi_cell(0, 7, v, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Courier", "B", 14)
    pdf.multi_cell(0, 8, text.strip(), new_x="LMARGIN", new_y="NEXT")
    img = qrcode.make(text.strip(), border=2)
    buf = io.BytesIO()
    img.save(buf)
    buf.seek(0)
    pdf.ln(4)
    pdf.image(buf, w=60)
    return _bytes(pdf)


def handover_receipt_pdf(ledger: Ledger, holder: str) -> bytes:
    """A TCR's receipt: every credential the ledger records for ``holder``, with its serial,
    state and bag, as handed over, for the TCR and the receiving staff to sign."""
    person = ledger.person(holder)
    rows: list[list[str]] = []
    for cred in ledger.credentials(holder):
        bag: Any = ledger.bag(cred.bag) if cred.bag else None
        rows.append(
            [
                cred.id,
                cred.kind.value,
                cred.serial,
                cred.state.value,
                bag.serial if bag else "",
                bag.state.value if bag else "",
            ]
        )
    pdf = _doc(
        f"Receipt: credentials handed over by {person.id}",
        f"Roles: {', '.join(r.value for r in person.roles)}. Printed "
        f"{utcnow().strftime('%Y-%m-%d %H:%M')} UTC from the custody ledger. Check each "
        "serial against the item before signing.",
    )
    _table(
        pdf,
        ["Credential", "Kind", "Serial", "State", "Bag", "Bag state"],
        rows,
        (35, 25, 35, 25, 30, 30),
    )
    _signature_lines(pdf, ["TCR (handed over)", "Staff (received)", "Witness"])
    return _bytes(pdf)
