"""A ceremony's page: what its opening and closing records say (script, rehearsal,
configuration hashes, who opened and closed it), who took part, the credentials used, the
bags opened and resealed, discrepancies and overrides, the closing head to compare with what
was read aloud, and its transcript (or why it is withheld)."""

from __future__ import annotations

from typing import Any

from tcr_kit.report.markup import esc, hash_cell, link, page, table, who
from tcr_kit.report.model import ReportData

__all__ = ["ceremony_page"]


def ceremony_page(c: dict[str, Any], data: ReportData, withheld: list[str]) -> str:
    """The HTML of ``ceremony-N.html`` for the ceremony ``c`` of ``data``; ``withheld``: the
    private fields that kept its transcript from being published (empty if it was)."""
    n = c["number"]
    facility = c["facility"] or "not recorded (no ceremony record)"
    parts = [f"<p>Date (UTC): <b>{esc(c['date'])}</b>; facility: <b>{esc(facility)}</b></p>"]
    parts.append(_record_facts(c, data))
    parts.append("<h2>Participants</h2>")
    parts.append(
        table(
            [[esc(p["id"]), esc(p["roles"]), esc(p["attendance"])] for p in c["participants"]],
            ["person", "role", "attendance"],
            tid="participants",
        )
    )
    parts.append("<h2>Credentials used</h2>")
    parts.append(
        table(
            [
                [
                    esc(p.get("credential") or p.get("card_serial") or p.get("kind")),
                    esc(p.get("set_id")),
                    esc(p.get("index")),
                    who(p.get("holder") or p.get("tcr_id"), data),
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
        table(
            [
                [
                    link("bag", b["serial"]),
                    esc(b["time"]),
                    who(b["by"], data),
                    who(b["witness"], data),
                ]
                for b in c["bags_opened"]
            ],
            ["serial", "time (UTC)", "opened by", "witness"],
        )
    )
    parts.append("<h2>Bags resealed</h2>")
    parts.append(
        table(
            [
                [
                    link("bag", str(b["old"])),
                    link("bag", str(b["new"])),
                    esc(b["time"]),
                    who(b["by"], data),
                    who(b["witness"], data),
                ]
                for b in c["bags_resealed"]
            ],
            ["old serial", "new serial", "time (UTC)", "by", "witness"],
        )
    )
    parts.append("<h2>Discrepancies and overrides</h2>")
    parts.append(
        table(
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
        table(
            [
                [
                    esc(o["seq"]),
                    esc(o["kind"]),
                    esc(" ".join(o["subjects"])),
                    who(o["by"], data),
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
    return page(f"Ceremony {n}", "\n".join(parts))


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
        rows.append(("configuration SHA-256", hash_cell(c["config_sha256"], "config")))
    if c.get("site_sha256"):
        rows.append(("site file SHA-256", hash_cell(c["site_sha256"], "site")))
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
        rows.append(("opened by", who(c["opened_by"], data)))
    if c.get("closed_by"):
        rows.append(("closed by", f"{who(c['closed_by'], data)} at {esc(c.get('closed_at'))}"))
    if not rows:
        return (
            "<p>This ceremony has no opening record (it was not opened with "
            "<code>tcr ceremony open</code>): its participants are read from its events.</p>"
        )
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table id="ceremony-record">{body}</table>'
