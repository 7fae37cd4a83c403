"""The page of pre-signed artifacts: each artifact's tranches, their release windows and
releases (who, witnessed by whom, the drive from which bag) and every file's size and
SHA-256, so that anyone can compare a file served on the web with what the log registered."""

from __future__ import annotations

from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.report.markup import esc, link, page, table, who
from tcr_kit.report.model import ReportData

__all__ = ["ARTIFACTS_PAGE", "artifacts_page"]

ARTIFACTS_PAGE = "artifacts.html"
"""The page of pre-signed artifacts: tranches, release dates and file hashes."""


def artifacts_page(data: ReportData) -> str:
    """The HTML of :data:`ARTIFACTS_PAGE`, from the artifacts the log registered."""
    parts = [
        "<p>Files signed at a ceremony ahead of time (for example a quarter's Signed Key "
        "Response) are kept on a drive in a tamper-evident bag and released a tranche at a "
        "time. Each file is listed with its size and SHA-256 (hex and PGP words) as "
        "registered in the signed log: compare a file served on the web with "
        "<code>sha256sum FILE</code>, or with <code>tcr artifact check NAME FILE "
        "--transcript TRANSCRIPT</code> offline.</p>"
    ]
    for a in data.artifacts:
        parts.append(
            f'<h2 id="artifact-{esc(a["name"])}">{esc(a["name"])}</h2><p>Drive '
            f"{link('credential', str(a['drive']))}; registered {esc(a['registered_at'])} by "
            f"{who(a['registered_by'], data)}"
            + (f", ceremony {esc(a['ceremony'])}" if a.get("ceremony") else "")
            + "</p>"
        )
        rows = []
        for t in a["tranches"]:
            r = t.get("release") or {}
            files = "".join(
                f"<div>{esc(f['name'])} ({esc(f['size'])} bytes)<br>"
                f'<code class="hash">{esc(f["sha256"])}</code><br><span class="words">'
                f"{esc(' '.join(pgp_words(bytes.fromhex(f['sha256']))))}</span></div>"
                for f in t.get("files", [])
            )
            rows.append(
                [
                    esc(t["label"]),
                    esc(t["not_before"]),
                    esc(t.get("until") or "open"),
                    esc(r.get("released_at") or "not released"),
                    who(r.get("released_by"), data),
                    who(r.get("witness"), data),
                    link("bag", str(r["bag"])) if r.get("bag") else "",
                    files,
                ]
            )
        parts.append(
            table(
                rows,
                [
                    "tranche",
                    "not before (UTC)",
                    "until (UTC)",
                    "released (UTC)",
                    "by",
                    "witness",
                    "drive from bag",
                    "files",
                ],
                tid=f"tranches-{a['name']}",
            )
        )
    if not data.artifacts:
        parts.append("<p>No artifacts registered.</p>")
    return page("Pre-signed artifacts", "\n".join(parts))
