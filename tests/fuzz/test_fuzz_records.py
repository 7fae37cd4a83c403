"""Fuzzing the non-share parsers: enrolment records, seal attestations, audit transcripts,
HSM configurations, policy files, signed checkpoint notes and checkpoint bodies, the
historical-discrepancy CSV and the HSM rekey state file (issue 11, item 2).

Each parser has its own test, whose inputs are drawn from (a) arbitrary bytes, (b)
arbitrary JSON documents, (c) deep nesting (JSON and TOML), (d) mutations of a valid
document (a byte flipped, cut or inserted; truncation) and, for JSON documents, (e) a valid
document with a field replaced by any JSON value; so an example is one input to that
parser. Whatever the input, the only exception allowed is the project's own
:class:`~tcr_kit.errors.TcrError` family (which the CLI prints as one line with its exit
code): never a ``RecursionError``, ``TypeError``, ``KeyError``, ``UnicodeError`` or other
traceback.

The CI run is short and bounded (``TCR_FUZZ_EXAMPLES``, default 60 inputs per parser, a
few seconds); a long run sets it higher, e.g.
``TCR_FUZZ_EXAMPLES=100000 pytest -q tests/fuzz/test_fuzz_records.py``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcr_kit.audit import note
from tcr_kit.audit.chain import AuditLog, ensure_schema
from tcr_kit.audit.note import Checkpoint
from tcr_kit.audit.selection import EventSelection
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.transcript import build_transcript, verify_transcript
from tcr_kit.cards.record import CardIdentity, EnrolmentRecord, ShareRef, TcrRef, load_record
from tcr_kit.custody import remote
from tcr_kit.custody.historical import parse_history_csv
from tcr_kit.custody.policy import PolicyInvalid, default_policy_text, parse_policy
from tcr_kit.errors import InputError, TcrError
from tcr_kit.hsm.config import parse_config, render_config
from tcr_kit.hsm.rekey import StateFileInvalid, load_rekey_state
from tests.fuzz.progress import counted

EXAMPLES = int(os.environ.get("TCR_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

Parser = Callable[[bytes], object]


def _via_file(load: Callable[[Path], object]) -> Parser:
    def parse(data: bytes) -> object:
        with tempfile.TemporaryDirectory(prefix="tcr-fuzz-") as folder:
            path = Path(folder) / "input"
            path.write_bytes(data)
            return load(path)

    return parse


def _verify_transcript(path: Path) -> object:
    return verify_transcript(path, workers=1)


def _text(parse: Callable[[str], object]) -> Parser:
    """Parsers of text: the bytes as the CLI reads them (UTF-8, undecodable input refused)."""

    def run(data: bytes) -> object:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None  # the readers refuse it before any parser sees it
        return parse(text)

    return run


PARSERS: dict[str, Parser] = {
    "enrolment-record": _via_file(load_record),
    "attestation": remote.parse,
    "transcript": _via_file(_verify_transcript),
    "hsm-config": parse_config,
    "policy": _text(parse_policy),
    "checkpoint-note": note.parse,
    "checkpoint": _text(Checkpoint.parse),
    "history-csv": _text(parse_history_csv),
    "rekey-state": _via_file(load_rekey_state),
}


@cache
def _seeds() -> dict[str, bytes]:
    """One valid document per parser (what the mutations start from)."""
    record = EnrolmentRecord(
        profile="tcr-iso7816-v1",
        enrolment_id="00" * 16,
        card=CardIdentity(backend="pcsc", serial="0A1B", atr="3B 95"),
        tcr=TcrRef(name="Ann", id="tcr-1"),
        share=ShareRef(format="opaque", digest="ab" * 32, length=10),
        enrolled_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
    )
    key = SoftwareEd25519Signer.generate()
    attestation = remote.seal(key, holder="tcr-1", bag_serial="TEB-1", contents=["CO-KEY"])
    conn = sqlite3.connect(":memory:")
    ensure_schema(conn)
    log = AuditLog(conn)
    log.register_key(key, "sa-1", key.public_key_bytes(), "sa-1")
    log.append(key, "sa-1", "test.step", {"ceremony": 3}, ["ceremony:3"])
    log.checkpoint(key)
    transcript = build_transcript(log, EventSelection(ceremony=3))
    config = render_config(
        name="HSM-E",
        module="/usr/lib/softhsm/libsofthsm2.so",
        token_label="KSK",
        share_set_id="hsm-e-1",
        threshold=2,
        count=3,
    )
    cp_text = Checkpoint("example.org/tcr", 2, bytes(range(32)), ("extension line",)).to_text()
    note_text = note.sign(cp_text, [note.NoteSigner("example.org/tcr", key)])
    rekey_state = {
        "format": "tcr-kit.hsm-rekey-state", "version": 1, "old_set_id": "ab" * 8,
        "old_epoch": 1, "new_set_id": "cd" * 8, "new_epoch": 2, "threshold": 2, "count": 3,
        "files": ["s1.txt", "s2.txt", "s3.txt"], "digests": ["00" * 32] * 3,
        "new_share_set_id": "hsm-e-2",
    }  # fmt: skip
    history = "\n".join(Path("tests/report/history.csv").read_text().splitlines()[:4]) + "\n"
    return {
        "policy": default_policy_text().encode(),
        "checkpoint-note": note_text.encode(),
        "checkpoint": cp_text.encode(),
        "history-csv": history.encode(),
        "rekey-state": json.dumps(rekey_state).encode(),
        "enrolment-record": record.to_json().encode(),
        "attestation": attestation.to_bytes(),
        "transcript": json.dumps(transcript).encode(),
        "hsm-config": config.encode(),
    }


def _check(name: str, data: bytes) -> None:
    try:
        PARSERS[name](data)
    except TcrError as exc:
        assert str(exc).strip(), f"{name}: empty error message"
        assert "\n" not in str(exc).strip(), f"{name}: error is not one line: {exc!r}"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
JSON_DOCUMENTS = ("enrolment-record", "attestation", "transcript")
"""The parsers of JSON documents: they also get valid documents with one field replaced."""


def _nested(depth: int, kind: str) -> bytes:
    if kind == "[":
        return ("[" * depth + "1" + "]" * depth).encode()
    if kind == "{":
        return ('{"a":' * depth + "1" + "}" * depth).encode()
    return ("a = " + "[" * depth + "1" + "]" * depth + "\n").encode()  # TOML


def _mutated(name: str, at: int, op: str, byte: int) -> bytes:
    data = bytearray(_seeds()[name])
    i = at % len(data)
    if op == "flip":
        data[i] ^= byte or 1
    elif op == "cut":
        del data[i]
    elif op == "insert":
        data.insert(i, byte)
    else:
        del data[i:]
    return bytes(data)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def _field_replaced(draw: st.DrawFn, name: str) -> bytes:
    doc = json.loads(_seeds()[name])
    where = draw(st.sampled_from(_paths(doc)[1:]))
    target = doc
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = draw(JSON)
    return json.dumps(doc).encode()


def inputs(name: str) -> st.SearchStrategy[bytes]:
    """Every input one parser gets: arbitrary bytes, arbitrary JSON documents, deep
    nesting (JSON arrays, objects, TOML arrays), mutations of its valid seed document and,
    for JSON documents, the seed with one field replaced by any JSON value."""
    strategies = [
        st.binary(max_size=2048),
        JSON.map(lambda doc: json.dumps(doc).encode()),
        st.builds(_nested, st.integers(1, 200_000), st.sampled_from("[{=")),
        st.builds(
            _mutated,
            st.just(name),
            st.integers(min_value=0),
            st.sampled_from(["flip", "cut", "insert", "truncate"]),
            st.integers(0, 255),
        ),
    ]
    if name in JSON_DOCUMENTS:
        strategies.append(_field_replaced(name))
    return st.one_of(strategies)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_no_input_raises_anything_but_one_line_tcr_errors(name: str) -> None:
    """``TCR_FUZZ_EXAMPLES`` inputs to this one parser (examples are inputs, per parser)."""

    @FUZZ
    @given(data=inputs(name))
    @counted
    def run(data: bytes) -> None:
        _check(name, data)

    run()


def test_the_seeds_are_valid_documents() -> None:
    """The mutations start from documents each parser accepts."""
    for name, data in _seeds().items():
        PARSERS[name](data)


def test_a_deeply_nested_policy_is_one_policy_error() -> None:
    """Found by this harness: tomllib's recursion on nested arrays escaped as a traceback."""
    depth = 5000
    with pytest.raises(PolicyInvalid, match="nested too deeply"):
        parse_policy("a = " + "[" * depth + "1" + "]" * depth + "\n")


def test_a_history_csv_field_over_the_csv_limit_is_one_input_error() -> None:
    """Found by this harness: the csv module's field limit escaped as ``_csv.Error``."""
    header = Path("tests/report/history.csv").read_text().splitlines()[0]
    with pytest.raises(InputError, match=r"^CSV line \d+: not CSV: field larger than"):
        parse_history_csv(header + "\n" + "x" * 200_000 + "\n")


def test_an_edited_rekey_state_is_one_input_error(tmp_path: Path) -> None:
    doc = json.loads(_seeds()["rekey-state"])
    for key, value in (("threshold", "2"), ("files", None), ("count", 9), ("old_epoch", -1)):
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps({**doc, key: value}))
        with pytest.raises(StateFileInvalid, match="a field of the rekey state"):
            load_rekey_state(path)
    assert load_rekey_state(_write(tmp_path / "ok.json", json.dumps(doc))).threshold == 2


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
