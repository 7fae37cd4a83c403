"""The HTML pieces every page of the public site is made of: escaping, the page frame (its
stylesheet, feed links and navigation, relative so the site works from ``file://``), tables,
links to an object's page, people with their roles, and hashes shown as hex and PGP words.

Kept in one place so that every page escapes the same way and looks the same; the page
modules (:mod:`~tcr_kit.report.index_page`, :mod:`~tcr_kit.report.ceremony_page`,
:mod:`~tcr_kit.report.artifacts_page`, :mod:`~tcr_kit.report.timeline_page`) only arrange
them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.report.model import ReportData

__all__ = ["esc", "hash_cell", "link", "page", "page_name", "table", "who"]


def esc(value: object) -> str:
    """``value`` as HTML text; ``None`` is shown as nothing, not as ``None``."""
    return html.escape("" if value is None else str(value))


def page_name(kind: str, key: str) -> str:
    """The file name of an object's page (``bag-TEB-1001.html``)."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9._-]', '_', key)}.html"


def page(title: str, body: str, *, depth: int = 0) -> str:
    """A whole HTML page around ``body``; ``depth`` folders below the site's root."""
    up = "../" * depth
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        f'<link rel="stylesheet" href="{up}report.css">'
        f'<link rel="alternate" type="application/atom+xml" href="{up}feed.atom">'
        "</head><body>"
        f'<nav><a href="{up}index.html">Report</a><a href="{up}feed.atom">Atom feed</a>'
        f'<a href="{up}feed.json">JSON feed</a></nav>'
        f"<h1>{esc(title)}</h1>\n{body}\n</body></html>\n"
    )


def table(rows: Sequence[Sequence[str]], head: Sequence[str], *, tid: str = "") -> str:
    """A table of cells that are already HTML (escape them first); an empty one says none."""
    attr = f' id="{tid}"' if tid else ""
    out = [f"<table{attr}><thead><tr>"]
    out += [f"<th>{esc(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    if not rows:
        out.append(f'<tr><td colspan="{len(head)}">none</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def link(kind: str, key: str) -> str:
    """A link to the page of the credential or bag ``key``."""
    return f'<a href="{esc(page_name(kind, key))}">{esc(key)}</a>'


def who(pid: object, data: ReportData) -> str:
    """A person's identifier with their roles (``ca-1 (CA)``); nothing when none is recorded."""
    if not isinstance(pid, str):
        return ""
    roles = "/".join(data.people.get(pid, {}).get("roles", []))
    return f"{esc(pid)} ({esc(roles)})" if roles else esc(pid)


_HEX64 = re.compile(r"[0-9a-f]{64}")


def hash_cell(value: object, name: str) -> str:
    """A recorded SHA-256 as hex and, to compare aloud, PGP words (``{name}-hex``,
    ``{name}-words``); a value that is not 64 hex digits is shown as it is, without words."""
    cell = f'<code class="hash" id="{name}-hex">{esc(value)}</code>'
    if isinstance(value, str) and _HEX64.fullmatch(value):
        words = " ".join(pgp_words(bytes.fromhex(value)))
        cell += f'<br><span class="words" id="{name}-words">{esc(words)}</span>'
    return cell
