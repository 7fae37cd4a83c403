"""The report's real-time feed: one entry per audit event, each publication's new head as a
signed C2SP checkpoint note with the RFC 9162 consistency proof from the previous published
head, as Atom, JSON Feed and an append-only ``feed/entries.jsonl`` (the full history that
:func:`verify_site` checks).

``feed/entries.jsonl``: one JSON object per line and per event, in order:
``{"seq", "time", "kind", "hash", "subjects"}``; the last event of each publication also
carries ``"checkpoint"`` (the signed note at tree size ``seq``) and, from the second
publication on, ``"proof"``: ``{"from": M, "from_root": base64, "hashes": [base64, ...]}``.
Leaf ``i`` of the log's Merkle tree is the hash of event ``i + 1`` (docs/audit-format.md),
so anyone can recompute every published root from the entries alone.

Publishing is incremental: it reads the site's last head from ``feed/state.json``, appends
the new entries, rewrites the two feed documents from the kept recent entries, and rebuilds
only the pages the new events concern.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.merkle import (
    LogTree,
    MerkleTree,
    ProofInvalid,
    TreeBuilder,
    verify_consistency,
)
from tcr_kit.audit.note import NoteInvalid, NoteVerifier, open_checkpoint
from tcr_kit.audit.treehead import log_origin, sign_tree_head
from tcr_kit.errors import InputError, IntegrityError, OperationalError
from tcr_kit.fileio import write_new_file

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tcr_kit.audit.signing import Signer
    from tcr_kit.audit.witness import CosignatureVerifier
    from tcr_kit.custody.ledger import Ledger

__all__ = [
    "RECENT",
    "CosignaturesAdded",
    "FeedBroken",
    "PublishResult",
    "SiteVerified",
    "add_cosignatures",
    "feed_consistency_proof",
    "publish",
    "verify_site",
]

RECENT = 50
"""How many of the newest entries the Atom and JSON feed documents carry."""
_MODE = 0o644


def _xml_text(text: str) -> str:
    """XML character data: ``&``, ``<`` and ``>`` escaped (``xml.sax.saxutils.escape``
    does the same but imports urllib and http, a cost every publication would pay)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class FeedBroken(IntegrityError):
    """The site's feed does not hold together: a head that does not extend the previous one
    (a rollback or fork of the ledger), a bad signature, a gap."""


@dataclass(frozen=True)
class PublishResult:
    published: int
    """Events added to the feed (0: nothing new)."""
    size: int
    root: str
    """Base64 root of the published head."""
    note: str
    verifier_key: str
    pages: int
    charts: tuple[str, ...] = ()
    """Charts redrawn (only those whose input changed)."""


@dataclass(frozen=True)
class SiteVerified:
    entries: int
    checkpoints: int
    size: int
    root: str
    origin: str
    witnessed_by: tuple[str, ...] = ()
    """Known witnesses (``witnesses=``) whose cosignature on the last head verifies."""
    cosigned_heads: int = 0
    """Published heads carrying at least one verified cosignature of a known witness."""


@dataclass(frozen=True)
class CosignaturesAdded:
    size: int
    """The tree size of the published head the cosignatures were added to."""
    added: tuple[str, ...]
    """Names of the witnesses whose cosignature was added (or replaced an older one)."""
    witnesses: tuple[str, ...]
    """Every witness name cosigning that head in the feed now."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise FeedBroken(f"{what} is not base64") from None
    if len(raw) != 32:
        raise FeedBroken(f"{what} is not 32 bytes")
    return raw


def _write(path: Path, text: str) -> None:
    write_new_file(path, text.encode("utf-8"), mode=_MODE, force=True)


def _state(site: Path) -> dict[str, Any] | None:
    path = site / "feed" / "state.json"
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text("utf-8"))
        int(doc["size"]), str(doc["root"]), str(doc["origin"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FeedBroken(f"{path}: not a feed state: {exc}") from None
    return dict(doc)


def publish(
    ledger: Ledger,
    site: str | os.PathLike[str],
    *,
    person: str,
    signer: Signer,
    origin: str | None = None,
    site_name: str | None = None,
    full: bool = False,
) -> PublishResult:
    """Publish the ledger's new events to ``site``: feed entries, a checkpoint signed by
    ``person``'s registered Ed25519 key, the consistency proof, the touched pages.

    :class:`FeedBroken` (exit 3), with nothing written, when the ledger's tree does not
    extend the site's last published head (rolled back or forked)."""
    from tcr_kit.report.model import read_report
    from tcr_kit.report.site import build_site
    from tcr_kit.report.site_files import read_cache

    root_dir = Path(site)
    registered = ledger.registered_key(person)
    if registered is None or registered != signer.public_key_bytes():
        raise InputError(f"the key given is not the one registered for {person} in this log")
    state = _state(root_dir)
    tree = _tree(ledger, int(state["size"]) if state is not None else 0)
    if tree.size == 0:
        raise InputError("nothing to publish: the audit log is empty")
    prev_size = 0
    if state is not None:
        prev_size = int(state["size"])
        prev_root = _unb64(state["root"], "the site's last root")
        if tree.size < prev_size:
            raise FeedBroken(
                f"the ledger has {tree.size} events but the site already published "
                f"{prev_size}: the ledger was rolled back; refusing to publish"
            )
        if not hmac.compare_digest(tree.root(prev_size), prev_root):
            raise FeedBroken(
                f"the ledger's tree at size {prev_size} is not the one the site published: "
                "the ledger was rolled back or forked; refusing to publish"
            )
        if state.get("origin") and origin is None and site_name is None:
            origin = str(state["origin"])
    name = log_origin(tree, site=site_name, origin=origin)
    if state is not None and state["origin"] != name:
        raise InputError(f"the site publishes log {state['origin']!r}, not {name!r}")
    head = sign_tree_head(tree, signer, name)
    if state is not None and state.get("verifier_key") not in (None, head.verifier_key):
        # Readers check every head with one key (log.vkey): a head signed by another key
        # would break the feed for everyone.
        raise InputError(
            f"the site's heads are signed with the key {state['verifier_key']}; publish with "
            "that key (the site's publisher), not another"
        )
    if tree.size == prev_size and not full:
        return PublishResult(0, tree.size, _b64(tree.root()), head.note, head.verifier_key, 0)
    new = list(ledger.audit.events(first=prev_size + 1))
    entries: list[dict[str, Any]] = []
    touched: set[str] = set()
    for event in new:
        body = parse_canonical(event.body)
        subjects = [str(s) for s in body.get("subjects", [])]
        touched.update(subjects)
        entries.append(
            {
                "seq": event.seq,
                "time": body["time"],
                "kind": body["kind"],
                "hash": event.hash,
                "subjects": subjects,
            }
        )
    if entries:
        last = entries[-1]
        last["checkpoint"] = head.note
        if prev_size:
            proof = tree.tree.consistency_proof(prev_size, tree.size)
            last["proof"] = {
                "from": prev_size,
                "from_root": _b64(tree.root(prev_size)),
                "hashes": [_b64(h) for h in proof],
            }
    feed_dir = root_dir / "feed"
    feed_dir.mkdir(parents=True, exist_ok=True)
    first_publication = state is None
    incremental = not (first_publication or full)
    known = read_cache(root_dir, prev_size) if incremental else []
    data = read_report(ledger, known_events=known if len(known) == prev_size else None)
    built = build_site(ledger, root_dir, touched=touched if incremental else None, data=data)
    with open(feed_dir / "entries.jsonl", "a", encoding="utf-8") as fh:
        for e in entries:
            fh.write(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    recent = [*(state or {}).get("recent", []), *entries][-RECENT:]
    new_state = {
        "format": "tcr-kit/report-feed-state",
        "version": 1,
        "origin": name,
        "verifier_key": head.verifier_key,
        "size": tree.size,
        "root": _b64(tree.root()),
        "recent": recent,
    }
    _write(root_dir / "checkpoint.note", head.note)
    _write(root_dir / "log.vkey", head.verifier_key + "\n")
    _write(root_dir / "feed.json", _json_feed(name, recent))
    _write(root_dir / "feed.atom", _atom_feed(name, recent))
    _write(feed_dir / "state.json", json.dumps(new_state, indent=1, sort_keys=True) + "\n")
    return PublishResult(
        len(entries),
        tree.size,
        _b64(tree.root()),
        head.note,
        head.verifier_key,
        len(built.pages),
        tuple(built.charts_redrawn),
    )


def _tree(ledger: Ledger, trusted: int) -> LogTree:
    """The log's tree. Events up to ``trusted`` (what the site already published, whose
    bodies were hashed then) count by their stored hashes, read in one query; every later
    event's hash is recomputed from its body. (``tcr audit verify`` checks all of them.)"""
    from tcr_kit.audit.chain import event_hash

    digests: list[bytes] = []
    for seq, stored in ledger.audit.stored_hashes(trusted):
        if seq != len(digests) + 1:
            raise FeedBroken(f"audit event {len(digests) + 1} is missing from the ledger")
        digests.append(bytes.fromhex(stored))
    for event in ledger.audit.events(first=len(digests) + 1):
        if event.seq != len(digests) + 1:
            raise FeedBroken(f"audit event {len(digests) + 1} is missing from the ledger")
        digest = event_hash(event.body)
        if not hmac.compare_digest(digest.hex(), event.hash.lower()):
            raise FeedBroken(f"audit event {event.seq} does not match its recorded hash")
        digests.append(digest)
    tree = MerkleTree.from_data(digests)
    head = digests[-1].hex() if digests else "0" * 64
    first = digests[0].hex() if digests else ""
    return LogTree(tree, head, first)


def _entry_text(e: dict[str, Any]) -> str:
    lines = [f"event {e['seq']}: {e['kind']}", f"time: {e['time']}", f"sha256: {e['hash']}"]
    if e.get("subjects"):
        lines.append("objects: " + " ".join(e["subjects"]))
    if e.get("checkpoint"):
        lines += ["", "new head (C2SP checkpoint note):", e["checkpoint"].rstrip("\n")]
    if e.get("proof"):
        p = e["proof"]
        lines += ["", f"consistency proof from tree size {p['from']} ({p['from_root']}):"]
        lines += p["hashes"]
    return "\n".join(lines) + "\n"


def _json_feed(origin: str, recent: list[dict[str, Any]]) -> str:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": f"Key ceremony log {origin}",
        "home_page_url": "index.html",
        "feed_url": "feed.json",
        "description": "One entry per signed audit event, with the new signed head and the "
        "consistency proof from the previous one (check with: tcr report verify SITE).",
        "items": [
            {
                "id": f"urn:tcr-kit:{origin}:event:{e['seq']}",
                "title": f"event {e['seq']}: {e['kind']}",
                "date_published": e["time"],
                "content_text": _entry_text(e),
                "_tcr_kit": e,
            }
            for e in reversed(recent)
        ],
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def _atom_feed(origin: str, recent: list[dict[str, Any]]) -> str:
    updated = recent[-1]["time"] if recent else datetime(1970, 1, 1).isoformat() + "Z"
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>Key ceremony log {_xml_text(origin)}</title>",
        f"<id>urn:tcr-kit:{_xml_text(origin)}</id>",
        f"<updated>{_xml_text(updated)}</updated>",
        '<link rel="self" href="feed.atom"/><link href="index.html"/>',
        "<author><name>tcr-kit report</name></author>",
    ]
    for e in reversed(recent):
        out += [
            "<entry>",
            f"<id>urn:tcr-kit:{_xml_text(origin)}:event:{e['seq']}</id>",
            f"<title>event {e['seq']}: {_xml_text(e['kind'])}</title>",
            f"<updated>{_xml_text(e['time'])}</updated>",
            f'<content type="text">{_xml_text(_entry_text(e))}</content>',
            "</entry>",
        ]
    out.append("</feed>")
    return "\n".join(out) + "\n"


def _entries(site: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    path = site / "feed" / "entries.jsonl"
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read the feed: {exc.strerror}") from None
    with fh:
        for n, line in enumerate(fh, 1):
            try:
                doc = json.loads(line)
                if not isinstance(doc, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                raise FeedBroken(f"feed entry on line {n} is not JSON: {exc}") from None
            yield n, doc


def verify_site(
    site: str | os.PathLike[str],
    *,
    verifier_key: str | None = None,
    since: str | None = None,
    witnesses: Sequence[CosignatureVerifier] = (),
    need: int = 0,
) -> SiteVerified:
    """Check the feed as a community member would: entries numbered 1, 2, ... without gaps;
    every checkpoint signed by the log's key and equal to the root recomputed from the
    entries' hashes; each checkpoint extending the previous by its consistency proof; with
    ``since`` (a checkpoint note you kept) the feed must contain that exact head.

    ``verifier_key`` defaults to the site's ``log.vkey`` (trust on first use: compare it with
    the one read aloud at a ceremony). :class:`FeedBroken` (exit 3) on any failure.

    With ``witnesses`` (their cosignature/v1 keys), every cosignature a known witness put on
    a published head must verify (:class:`FeedBroken` otherwise), and the last head must
    carry at least ``need`` of them (:class:`~tcr_kit.audit.witness.TooFewCosignatures`,
    exit 4). Cosignatures of witnesses not given are kept and ignored, as C2SP notes do."""
    from tcr_kit.audit.witness import require_cosignatures, witnessed_by

    root_dir = Path(site)
    if verifier_key is None:
        try:
            verifier_key = (root_dir / "log.vkey").read_text("utf-8").strip()
        except OSError as exc:
            raise OperationalError(f"{root_dir}: no log.vkey: {exc.strerror}") from None
    verifier = NoteVerifier.parse(verifier_key)
    kept = None
    if since is not None:
        try:
            kept, _, _ = open_checkpoint(since, [verifier], origin=verifier.name)
        except NoteInvalid as exc:
            raise FeedBroken(f"the checkpoint you kept does not open: {exc}") from None
    builder = TreeBuilder()
    from tcr_kit.audit.merkle import leaf_hash

    prev: tuple[int, bytes] | None = None
    checkpoints = 0
    cosigned_heads = 0
    last_note = None
    kept_seen = kept is None
    for line, e in _entries(root_dir):
        try:
            seq = int(e["seq"])
            leaf = bytes.fromhex(str(e["hash"]))
        except (KeyError, ValueError, TypeError):
            raise FeedBroken(f"feed entry on line {line} has no valid seq and hash") from None
        if seq != builder.size + 1 or len(leaf) != 32:
            raise FeedBroken(
                f"feed entry on line {line} is event {seq}, expected {builder.size + 1}: "
                "the feed has a gap, a repeat or was rewritten"
            )
        builder.append_leaf_hash(leaf_hash(leaf))
        if kept is not None and kept.size == seq:
            if not hmac.compare_digest(builder.root(), kept.root):
                raise FeedBroken(
                    f"the feed's tree at size {seq} is not the head you kept: "
                    "the log was rolled back or forked since"
                )
            kept_seen = True
        note = e.get("checkpoint")
        if note is None:
            continue
        try:
            cp, opened, _ = open_checkpoint(str(note), [verifier], origin=verifier.name)
            cosigners = witnessed_by(opened, witnesses) if witnesses else []
        except NoteInvalid as exc:
            raise FeedBroken(f"event {seq}: the checkpoint does not verify: {exc}") from None
        cosigned_heads += bool(cosigners)
        last_note = opened
        if cp.size != seq or not hmac.compare_digest(cp.root, builder.root()):
            raise FeedBroken(
                f"event {seq}: the signed head (size {cp.size}) does not match the published "
                "events: the feed was rewritten"
            )
        if prev is not None:
            proof = e.get("proof")
            if not isinstance(proof, dict) or int(proof.get("from", -1)) != prev[0]:
                raise FeedBroken(
                    f"event {seq}: no consistency proof from the previous head (size {prev[0]})"
                )
            if not hmac.compare_digest(_unb64(str(proof["from_root"]), "proof root"), prev[1]):
                raise FeedBroken(f"event {seq}: the proof starts from another head")
            try:
                verify_consistency(
                    prev[0],
                    cp.size,
                    prev[1],
                    cp.root,
                    [_unb64(str(h), "proof hash") for h in proof.get("hashes", [])],
                )
            except ProofInvalid as exc:
                raise FeedBroken(
                    f"event {seq}: the head does not extend the previous one ({exc}): "
                    "the log was rolled back or forked"
                ) from None
        prev = (cp.size, cp.root)
        checkpoints += 1
    if builder.size == 0 or prev is None:
        raise FeedBroken(f"{root_dir}: the feed has no signed head")
    if prev[0] != builder.size:
        raise FeedBroken(f"the last {builder.size - prev[0]} feed entries have no signed head")
    if not kept_seen:
        raise FeedBroken(
            f"the head you kept (size {kept.size if kept else 0}) is beyond the feed "
            f"({builder.size} events): the log was rolled back"
        )
    names: list[str] = []
    if witnesses and last_note is not None:
        names = require_cosignatures(last_note, witnesses, need)
    return SiteVerified(
        builder.size,
        checkpoints,
        prev[0],
        _b64(prev[1]),
        verifier.name,
        tuple(names),
        cosigned_heads,
    )


def feed_consistency_proof(
    site: str | os.PathLike[str], first: int, second: int | None = None
) -> dict[str, Any]:
    """A consistency proof between two sizes of the published log, computed from the feed
    entries alone (leaf ``i`` is the hash of event ``i + 1``), in the form ``tcr audit
    prove --json`` prints and ``tcr witness cosign --proof`` reads: a witness that cosigned
    an earlier head needs no ledger to check the site's newest one. Nothing here is trusted:
    the witness checks the proof against the root it saw and the root of the signed note.
    ``second`` defaults to the newest published head."""
    root_dir = Path(site)
    state = _state(root_dir)
    if state is None:
        raise InputError(f"{root_dir}: nothing published yet (no feed/state.json)")
    published = int(state["size"])
    digests: list[bytes] = []
    for line, e in _entries(root_dir):
        try:
            if int(e["seq"]) != len(digests) + 1:
                raise ValueError("out of order")
            digests.append(bytes.fromhex(str(e["hash"])))
        except (KeyError, ValueError, TypeError):
            raise FeedBroken(f"feed entry on line {line} has no valid seq and hash") from None
        if len(digests) == published:
            break
    to = published if second is None else second
    if not 1 <= first <= to <= len(digests):
        raise InputError(f"need 1 <= from ({first}) <= to ({to}) <= published size {len(digests)}")
    tree = MerkleTree.from_data(digests[:to])
    return {
        "ok": True,
        "from": {"size": first, "root": _b64(tree.root(first))},
        "to": {"size": to, "root": _b64(tree.root())},
        "proof": [_b64(h) for h in tree.consistency_proof(first, to)],
    }


def add_cosignatures(
    site: str | os.PathLike[str],
    notes: Sequence[str],
    *,
    witnesses: Sequence[CosignatureVerifier] = (),
) -> list[CosignaturesAdded]:
    """Put the witness cosignatures of ``notes`` (checkpoint notes returned by ``tcr witness
    cosign``) into the feed entries that published those heads, so each feed entry's note
    carries every cosignature collected for it.

    Each note must be signed by the site's log key and name a head the feed published, with
    the same text (origin, size, root): :class:`FeedBroken` otherwise. Only cosignature lines
    are taken from it (a witness's newer cosignature replaces its older one); with
    ``witnesses``, the cosignature of a known witness must verify. The log's own signature
    is unchanged, so the feed verifies as before. Rewrites ``feed/entries.jsonl`` (atomically),
    the feed documents and, for the newest head, ``checkpoint.note``."""
    from tcr_kit.audit.note import parse as parse_note
    from tcr_kit.audit.witness import witnessed_by

    root_dir = Path(site)
    state = _state(root_dir)
    if state is None:
        raise InputError(f"{root_dir}: nothing published yet (no feed/state.json)")
    verifier = NoteVerifier.parse(str(state["verifier_key"]))
    entries = [doc for _, doc in _entries(root_dir)]
    by_size = {int(e["seq"]): e for e in entries if e.get("checkpoint")}
    results = []
    for data in notes:
        try:
            cp, note, _ = open_checkpoint(data, [verifier], origin=verifier.name)
            if witnesses:
                witnessed_by(note, witnesses)  # a known witness's bad cosignature raises
        except NoteInvalid as exc:
            raise FeedBroken(f"the cosigned note does not verify: {exc}") from None
        entry = by_size.get(cp.size)
        if entry is None:
            raise FeedBroken(f"the feed published no head at tree size {cp.size}")
        published = parse_note(str(entry["checkpoint"]))
        if published.text != note.text:
            raise FeedBroken(
                f"the cosigned note at tree size {cp.size} is not the head the feed published"
            )
        log_id = (verifier.name, verifier.key_id)
        new = {
            (sig.name, sig.key_id): sig
            for sig in note.signatures
            if (sig.name, sig.key_id) != log_id and len(sig.blob) == 8 + 64
        }
        kept = [sig for sig in published.signatures if (sig.name, sig.key_id) not in new]
        merged = published.text + "\n" + "".join(sig.line for sig in [*kept, *new.values()])
        entry["checkpoint"] = merged
        everyone = [sig.name for sig in parse_note(merged).signatures if sig.name != verifier.name]
        results.append(
            CosignaturesAdded(cp.size, tuple(sorted({n for n, _ in new})), tuple(everyone))
        )
    lines = "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries)
    _write(root_dir / "feed" / "entries.jsonl", lines)
    recent = [by_size.get(int(e["seq"]), e) for e in state.get("recent", [])]
    state["recent"] = recent
    name = str(state["origin"])
    _write(root_dir / "feed.json", _json_feed(name, recent))
    _write(root_dir / "feed.atom", _atom_feed(name, recent))
    newest = by_size.get(int(state["size"]))
    if newest is not None:
        _write(root_dir / "checkpoint.note", str(newest["checkpoint"]))
    _write(root_dir / "feed" / "state.json", json.dumps(state, indent=1, sort_keys=True) + "\n")
    return results
