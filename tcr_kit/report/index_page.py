"""The site's front page: the log's size and head, every ceremony, the quorum readiness of
each share set, the discrepancy charts and table, and links to the artifacts and custody
pages. It is rewritten by every build, since any new event changes at least the head."""

from __future__ import annotations

from pathlib import Path

from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.report.artifacts_page import ARTIFACTS_PAGE
from tcr_kit.report.markup import esc, link, page, table
from tcr_kit.report.model import ReportData

__all__ = ["index_page"]


def index_page(data: ReportData, charts: Path) -> str:
    """The HTML of ``index.html``; the charts are read from the folder ``charts`` (inlined,
    so the page fetches nothing) when they have been drawn."""
    parts = [
        "<p>The public record of this ledger's key ceremonies and the custody of their "
        "credentials, read off the signed audit log. Nothing secret or private is shown "
        "(see the redaction rule in the project's docs/report.md).</p>",
        f'<p>Log size <b>{data.size}</b> events; head <code class="hash">{esc(data.head)}</code>'
        f'<br><span class="words">{esc(" ".join(pgp_words(bytes.fromhex(data.head))))}</span></p>',
        '<h2 id="ceremonies-heading">Ceremonies</h2>',
    ]
    rows = []
    for c in data.ceremonies:
        closing = c["closing"] or {}
        rows.append(
            [
                f'<a href="ceremony-{c["number"]}.html">{c["number"]}</a>',
                esc(str(c["date"] or "")[:19]),
                esc(c["facility"] or ""),
                esc(len(c["participants"])),
                esc(len(c["credentials_used"])),
                esc(len(c["bags_opened"])),
                esc(len(c["discrepancies"])),
                f'<code class="hash">{esc(closing.get("hash", ""))}</code>',
            ]
        )
    parts.append(
        table(
            rows,
            [
                "ceremony",
                "date (UTC)",
                "facility",
                "participants",
                "credentials used",
                "bags opened",
                "discrepancies",
                "closing head",
            ],
            tid="ceremonies",
        )
    )
    parts.append("<h2>Quorum readiness</h2>")
    qrows = []
    for s in data.share_sets:
        cls = "ok" if s["ready"] else "bad"
        qrows.append(
            [
                esc(s["id"]),
                esc(s["purpose"]),
                esc(f"{s['m']} of {s['n']}"),
                esc(s["epoch"]),
                esc(s["usable"]),
                esc(", ".join(f"{k} {v}" for k, v in sorted(s["states"].items()))),
                f'<span class="{cls}">{"ready" if s["ready"] else "NOT READY"} '
                f"(margin {esc(s['margin'])})</span>",
                esc(s["last_change"] or ""),
            ]
        )
    parts.append(
        table(
            qrows,
            [
                "share set",
                "purpose",
                "threshold",
                "epoch",
                "usable",
                "credential states",
                "readiness",
                "last change (UTC)",
            ],
            tid="quorum",
        )
    )
    parts.append("<h2>Discrepancies over the years</h2>")
    for name in ("yearly.svg", "assumptions.svg"):
        path = charts / name
        if path.exists():
            parts.append(f'<figure id="chart-{name[:-4]}">{path.read_text("utf-8")}</figure>')
    drows = [
        [
            esc(d["id"]),
            esc(str(d["opened_at"])[:10]),
            esc(d.get("ceremony") or ""),
            esc(d["category"]),
            esc(d["severity"]),
            esc(d.get("step") or ""),
            esc(d["description"]),
            esc(d["assumption"]),
            esc(d["status"]),
            esc(d.get("source") or ""),
        ]
        for d in data.discrepancies
    ]
    parts.append(
        table(
            drows,
            [
                "id",
                "date",
                "ceremony",
                "category",
                "severity",
                "step",
                "what happened",
                "assumption challenged",
                "status",
                "source",
            ],
            tid="discrepancies",
        )
    )
    parts.append(
        f'<h2>Pre-signed artifacts</h2><p><a href="{ARTIFACTS_PAGE}">'
        f"{len(data.artifacts)} artifacts</a>: files signed ahead of time, released a tranche "
        "at a time, with their SHA-256.</p>"
    )
    parts.append("<h2>Custody timelines</h2><h3>Credentials</h3><p>")
    parts.append(" ".join(link("credential", c["id"]) for c in data.credentials) or "none")
    parts.append("</p><h3>Bags</h3><p>")
    parts.append(" ".join(link("bag", b["serial"]) for b in data.bags) or "none")
    parts.append("</p>")
    return page("Key ceremony public report", "\n".join(parts))
