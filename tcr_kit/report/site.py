"""The static public report: HTML pages and one stylesheet, no scripts, no network fetches,
relative links only (it works from ``file://``).

:func:`build_site` writes every page; with ``touched`` (the subjects of new events, from
:mod:`tcr_kit.report.feed`) it rewrites only the index and the pages those events concern, and
redraws the charts only when a discrepancy changed.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.fileio import write_new_file
from tcr_kit.report.model import ReportData, read_report
from tcr_kit.report.public import private_transcript_fields

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Ledger

__all__ = ["SiteResult", "build_site", "page_name"]

PUBLIC_MODE = 0o644


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def page_name(kind: str, key: str) -> str:
    """The file name of an object's page (``bag-TEB-1001.html``)."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9._-]', '_', key)}.html"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_new_file(path, text.encode("utf-8"), mode=PUBLIC_MODE, force=True)


def _page(title: str, body: str, *, depth: int = 0) -> str:
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


def _table(rows: Sequence[Sequence[str]], head: Sequence[str], *, tid: str = "") -> str:
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


def _link(kind: str, key: str) -> str:
    return f'<a href="{esc(page_name(kind, key))}">{esc(key)}</a>'


class SiteResult:
    """What a build wrote."""

    def __init__(self) -> None:
        self.pages: list[str] = []
        self.withheld: dict[int, list[str]] = {}
        self.charts_redrawn: list[str] = []
        """Charts drawn by this build (only those whose input changed)."""


def build_site(
    ledger: Ledger,
    out: str | Path,
    *,
    touched: Iterable[str] | None = None,
    data: ReportData | None = None,
) -> SiteResult:
    """Write the site to ``out`` (created if missing). ``touched``: only what those subjects
    concern (plus the index); ``None``: everything."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    data = data or read_report(ledger)
    result = SiteResult()
    subjects = None if touched is None else set(touched)
    css = resources.files("tcr_kit.report").joinpath("static/report.css").read_text("utf-8")
    if subjects is None or not (root / "report.css").exists():
        _write(root / "report.css", css)
    charts = root / "charts"
    if (
        subjects is None
        or any(s.startswith("discrepancy:") for s in subjects)
        or not (charts / "yearly.svg").exists()
    ):
        result.charts_redrawn = _charts(data, charts)
    for c in data.ceremonies:
        closing_seq = int((c["closing"] or {}).get("seq", 0))
        # A ceremony's closing checkpoint names no subject: its page is rebuilt when the
        # checkpoint is among the events read now (not from the site's cache).
        if subjects is None or f"ceremony:{c['number']}" in subjects or closing_seq > data.cached:
            result.withheld[c["number"]] = _transcript(ledger, data, c, root)
            name = f"ceremony-{c['number']}.html"
            _write(root / name, _ceremony_page(c, data, result.withheld[c["number"]]))
            result.pages.append(name)
    for cred in data.credentials:
        if subjects is None or f"credential:{cred['id']}" in subjects:
            name = page_name("credential", cred["id"])
            _write(
                root / name, _timeline_page("Credential", f"credential:{cred['id']}", cred, data)
            )
            result.pages.append(name)
    for bag in data.bags:
        if subjects is None or f"bag:{bag['serial']}" in subjects:
            name = page_name("bag", bag["serial"])
            _write(root / name, _timeline_page("Bag", f"bag:{bag['serial']}", bag, data))
            result.pages.append(name)
    if subjects is None or any(x.startswith("artifact") for x in subjects):
        _write(root / ARTIFACTS_PAGE, _artifacts_page(data))
        result.pages.append(ARTIFACTS_PAGE)
    _write(root / "index.html", _index(data, charts))
    _cache_events(root, data, full=subjects is None)
    _write(root / "report.json", json.dumps(_summary_json(data), indent=1, sort_keys=True) + "\n")
    result.pages.append("index.html")
    return result


CACHE = Path("data") / "events.jsonl"
"""The public (already redacted) events the pages were built from, one JSON object a line:
lets a publication read only the new events from the ledger."""


def read_cache(root: Path, size_limit: int | None = None) -> list[dict[str, Any]]:
    """The cached public events 1..k of the site (empty if none or unusable)."""
    path = root / CACHE
    try:
        text = path.read_text("utf-8").strip()
        events = json.loads("[" + text.replace("\n", ",") + "]") if text else []
    except (OSError, ValueError):
        return []
    if any(e.get("seq") != i for i, e in enumerate(events, 1)):
        return []
    return events if size_limit is None else events[:size_limit]


def _cache_events(root: Path, data: ReportData, *, full: bool) -> None:
    path = root / CACHE
    path.parent.mkdir(parents=True, exist_ok=True)
    if full or data.cached == 0 or not path.exists():
        _write(path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in data.events))
        return
    with open(path, "a", encoding="utf-8") as fh:
        for e in data.events[data.cached :]:
            fh.write(json.dumps(e, sort_keys=True) + "\n")


def _summary_json(data: ReportData) -> dict[str, Any]:
    return {
        "format": "tcr-kit/public-report",
        "version": 1,
        "size": data.size,
        "head": data.head,
        "ceremonies": data.ceremonies,
        "share_sets": data.share_sets,
        "discrepancies": data.discrepancies,
        "artifacts": data.artifacts,
    }


def _summary_rows(data: ReportData) -> list[dict[str, Any]]:
    counts: dict[tuple[int, str, str], int] = {}
    for d in data.discrepancies:
        key = (int(str(d["opened_at"])[:4]), str(d["category"]), str(d["severity"]))
        counts[key] = counts.get(key, 0) + 1
    return [
        {"year": y, "category": c, "severity": s, "count": n}
        for (y, c, s), n in sorted(counts.items())
    ]


CHART_INPUTS = "inputs.json"
"""``charts/inputs.json``: chart file name -> SHA-256 of what it was drawn from."""


def _chart_inputs(data: ReportData) -> dict[str, tuple[bytes, Any]]:
    """Each chart's input and its hash: the counts it plots (a discrepancy's description,
    status or resolution changes no chart) and the plotting library's version."""
    import hashlib
    from importlib.metadata import version

    rows = _summary_rows(data)
    totals: dict[str, int] = {}
    for r in rows:
        a = data.assumptions.get(str(r["category"]), "(unmapped)")
        totals[a] = totals.get(a, 0) + int(r["count"])
    library = version("pygal")
    inputs: dict[str, Any] = {"yearly.svg": rows, "assumptions.svg": sorted(totals.items())}
    out = {}
    for name, value in inputs.items():
        blob = json.dumps([library, name, value], sort_keys=True).encode("utf-8")
        out[name] = (hashlib.sha256(blob).digest(), value)
    return out


def _charts(data: ReportData, folder: Path) -> list[str]:
    """Redraw the charts whose input changed since they were drawn (their hashes are kept
    in :data:`CHART_INPUTS`); returns the names redrawn. Drawing is the slow part of a
    publication, so unchanged charts are never redrawn."""
    try:
        drawn = json.loads((folder / CHART_INPUTS).read_text("utf-8"))
        if not isinstance(drawn, dict):
            drawn = {}
    except (OSError, ValueError):
        drawn = {}
    inputs = _chart_inputs(data)
    stale = [
        name
        for name, (digest, _) in inputs.items()
        if drawn.get(name) != digest.hex() or not (folder / name).exists()
    ]
    if not stale:
        return []
    from tcr_kit.report.charts import assumption_chart, yearly_chart

    rows = _summary_rows(data)
    for name in stale:
        svg = (
            yearly_chart(rows) if name == "yearly.svg" else assumption_chart(rows, data.assumptions)
        )
        _write(folder / name, svg)
        drawn[name] = inputs[name][0].hex()
    _write(folder / CHART_INPUTS, json.dumps(drawn, indent=1, sort_keys=True) + "\n")
    return stale


def _transcript(ledger: Ledger, data: ReportData, c: dict[str, Any], root: Path) -> list[str]:
    from tcr_kit.audit.canonical import parse_canonical
    from tcr_kit.audit.selection import EventSelection
    from tcr_kit.audit.transcript import build_transcript

    if not c["events"]:
        return []
    selection = EventSelection(ceremony=c["number"])
    closed = (c.get("closing") or {}).get("source") == "checkpoint"
    transcript = build_transcript(
        ledger.audit, selection, selection.description, through_checkpoint=closed
    )
    names = set(data.people)
    names |= {str(p.get("facility")) for p in data.people.values() if p.get("facility")}
    names |= {str(x["facility"]) for x in data.ceremonies if x.get("facility")}
    bodies = [parse_canonical(e["body"].encode("ascii")) for e in transcript["events"]]
    withheld = private_transcript_fields(bodies, names)
    path = root / "transcripts" / f"transcript-ceremony-{c['number']}.json"
    if withheld:
        if path.exists():
            path.unlink()
        return withheld
    text = json.dumps(transcript, indent=1, sort_keys=True) + "\n"
    _write(path, text)
    return []


def _index(data: ReportData, charts: Path) -> str:
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
        _table(
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
        _table(
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
        _table(
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
    parts.append(" ".join(_link("credential", c["id"]) for c in data.credentials) or "none")
    parts.append("</p><h3>Bags</h3><p>")
    parts.append(" ".join(_link("bag", b["serial"]) for b in data.bags) or "none")
    parts.append("</p>")
    return _page("Key ceremony public report", "\n".join(parts))


ARTIFACTS_PAGE = "artifacts.html"
"""The page of pre-signed artifacts: tranches, release dates and file hashes."""


def _artifacts_page(data: ReportData) -> str:
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
            f"{_link('credential', str(a['drive']))}; registered {esc(a['registered_at'])} by "
            f"{_who(a['registered_by'], data)}"
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
                    _who(r.get("released_by"), data),
                    _who(r.get("witness"), data),
                    _link("bag", str(r["bag"])) if r.get("bag") else "",
                    files,
                ]
            )
        parts.append(
            _table(
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
    return _page("Pre-signed artifacts", "\n".join(parts))


def _who(pid: object, data: ReportData) -> str:
    if not isinstance(pid, str):
        return ""
    roles = "/".join(data.people.get(pid, {}).get("roles", []))
    return f"{esc(pid)} ({esc(roles)})" if roles else esc(pid)


def _ceremony_page(c: dict[str, Any], data: ReportData, withheld: list[str]) -> str:
    n = c["number"]
    facility = c["facility"] or "not recorded (no ceremony record)"
    parts = [f"<p>Date (UTC): <b>{esc(c['date'])}</b>; facility: <b>{esc(facility)}</b></p>"]
    parts.append(_record_facts(c, data))
    parts.append("<h2>Participants</h2>")
    parts.append(
        _table(
            [[esc(p["id"]), esc(p["roles"]), esc(p["attendance"])] for p in c["participants"]],
            ["person", "role", "attendance"],
            tid="participants",
        )
    )
    parts.append("<h2>Credentials used</h2>")
    parts.append(
        _table(
            [
                [
                    esc(p.get("credential") or p.get("card_serial") or p.get("kind")),
                    esc(p.get("set_id")),
                    esc(p.get("index")),
                    _who(p.get("holder") or p.get("tcr_id"), data),
                    esc(p.get("outcome")),
                    esc(p["time"]),
                ]
                for p in c["credentials_used"]
            ],
            ["credential", "share set", "index", "holder", "outcome", "time (UTC)"],
        )
    )
    parts.append("<h2>Bags opened</h2>")
    parts.append(
        _table(
            [
                [
                    _link("bag", b["serial"]),
                    esc(b["time"]),
                    _who(b["by"], data),
                    _who(b["witness"], data),
                ]
                for b in c["bags_opened"]
            ],
            ["serial", "time (UTC)", "opened by", "witness"],
        )
    )
    parts.append("<h2>Bags resealed</h2>")
    parts.append(
        _table(
            [
                [
                    _link("bag", str(b["old"])),
                    _link("bag", str(b["new"])),
                    esc(b["time"]),
                    _who(b["by"], data),
                    _who(b["witness"], data),
                ]
                for b in c["bags_resealed"]
            ],
            ["old serial", "new serial", "time (UTC)", "by", "witness"],
        )
    )
    parts.append("<h2>Discrepancies and overrides</h2>")
    parts.append(
        _table(
            [
                [
                    esc(d["id"]),
                    esc(d["category"]),
                    esc(d["severity"]),
                    esc(d.get("step") or ""),
                    esc(d["description"]),
                    esc(d["status"]),
                    esc(", ".join(d.get("overrides", []))),
                ]
                for d in c["discrepancies"]
            ],
            ["id", "category", "severity", "step", "what happened", "status", "overridden by"],
        )
    )
    parts.append(
        _table(
            [
                [
                    esc(o["seq"]),
                    esc(o["kind"]),
                    esc(" ".join(o["subjects"])),
                    _who(o["by"], data),
                    esc(o["time"]),
                ]
                for o in c["overrides"]
            ],
            ["event", "what", "objects", "override by", "time (UTC)"],
        )
    )
    closing = c["closing"]
    parts.append("<h2>Closing head</h2>")
    if closing:
        if closing.get("source") == "checkpoint":
            how = (
                f"The checkpoint signed when the ceremony was closed (event "
                f"{esc(closing['close_event'])} closed it): the head read aloud and printed at "
                "the close."
            )
        else:
            how = (
                "The ceremony's last event: it was not closed with <code>tcr ceremony "
                "close</code>, so no closing checkpoint was signed."
            )
        parts.append(
            f'<p>{how}</p><p>Event {esc(closing["seq"])}, SHA-256 <code class="hash" '
            f'id="closing-hex">{esc(closing["hash"])}</code></p><p class="words" '
            f'id="closing-words">{esc(closing["words"])}</p>'
        )
    parts.append("<h2>Transcript</h2>")
    if withheld:
        parts.append(
            '<p class="bad">The transcript of this ceremony is not published here: its signed '
            "events carry private places that cannot be redacted without breaking the "
            "signatures. Auditors can ask the operator for it.</p><ul>"
            + "".join(f"<li>{esc(w)}</li>" for w in withheld[:20])
            + "</ul>"
        )
    elif c["events"]:
        name = f"transcript-ceremony-{n}.json"
        parts.append(
            f'<p><a href="transcripts/{name}">{name}</a>: every audit event from the first to '
            f"this ceremony's last, with their signatures. Check it yourself, offline, with "
            f"tcr-kit:</p><pre>tcr audit verify --transcript {name}"
            + (f" --expect-head {esc(closing['hash'])}" if closing else "")
            + "</pre><p>It must print that the log verifies and end at the closing head above "
            "(compare the hex or the words with what was read aloud at the ceremony).</p>"
        )
    return _page(f"Ceremony {n}", "\n".join(parts))


def _record_facts(c: dict[str, Any], data: ReportData) -> str:
    """What the ceremony's own opening and closing records say: the script it ran, whether
    it was a rehearsal and which rehearsal used the same configuration, who opened and who
    closed it."""
    rows: list[tuple[str, str]] = []
    if c.get("script"):
        rows.append(("script", esc(c["script"])))
    if c.get("status"):
        rows.append(("kind", "rehearsal" if c.get("rehearsal") else "ceremony"))
        rows.append(("state", esc(c["status"])))
    if c.get("config_sha256"):
        rows.append(("configuration SHA-256", _hash_cell(c["config_sha256"], "config")))
    if c.get("site_sha256"):
        rows.append(("site file SHA-256", _hash_cell(c["site_sha256"], "site")))
    if c.get("rehearsed_in"):
        rows.append(
            (
                "rehearsed in",
                ", ".join(
                    f'<a href="ceremony-{int(r)}.html">ceremony {int(r)}</a>'
                    for r in c["rehearsed_in"]
                ),
            )
        )
    if c.get("opened_by"):
        rows.append(("opened by", _who(c["opened_by"], data)))
    if c.get("closed_by"):
        rows.append(("closed by", f"{_who(c['closed_by'], data)} at {esc(c.get('closed_at'))}"))
    if not rows:
        return (
            "<p>This ceremony has no opening record (it was not opened with "
            "<code>tcr ceremony open</code>): its participants are read from its events.</p>"
        )
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table id="ceremony-record">{body}</table>'


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _hash_cell(value: object, name: str) -> str:
    """A recorded SHA-256 as hex and, to compare aloud, PGP words (``{name}-hex``,
    ``{name}-words``); a value that is not 64 hex digits is shown as it is, without words."""
    cell = f'<code class="hash" id="{name}-hex">{esc(value)}</code>'
    if isinstance(value, str) and _HEX64.fullmatch(value):
        words = " ".join(pgp_words(bytes.fromhex(value)))
        cell += f'<br><span class="words" id="{name}-words">{esc(words)}</span>'
    return cell


def _plain(value: object) -> object:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _timeline_page(what: str, subject: str, doc: dict[str, Any], data: ReportData) -> str:
    key = subject.split(":", 1)[1]
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_plain(v))}</td></tr>" for k, v in doc.items())
    rows = []
    for e in data.about(subject):
        state = serial = place = ""
        for rec in e.get("records", []):
            if f"{rec['table']}:{rec['key']}" == subject or (
                rec["table"] == "bag" and subject == f"bag:{rec['key']}"
            ):
                state = str(rec["doc"].get("state", ""))
                serial = str(rec["doc"].get("serial", rec["doc"].get("bag", "")) or "")
                loc = rec["doc"].get("location")
                if isinstance(loc, dict):
                    place = " ".join(f"{k}={v}" for k, v in loc.items())
        d = e.get("details", {})
        rows.append(
            [
                esc(e["seq"]),
                esc(e["time"]),
                esc(e["kind"]),
                esc(state),
                esc(serial),
                esc(place),
                _who(e["actor"], data),
                _who(d.get("witness"), data),
                f'<code class="hash">{esc(e["hash"][:16])}</code>',
            ]
        )
    body = f"<table>{facts}</table><h2>Custody timeline</h2>" + _table(
        rows,
        [
            "event",
            "time (UTC)",
            "what",
            "state",
            "serial",
            "place",
            "by",
            "witness",
            "event hash",
        ],
        tid="timeline",
    )
    return _page(f"{what} {key}", body)
