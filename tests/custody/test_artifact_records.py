"""Artifact records and their schedule: the tranche syntax, windows, the file checks, the
policy actions added for them, and an older ledger without the artifact tables."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.custody import (
    Artifact,
    ArtifactFile,
    ArtifactFilesDiffer,
    Tranche,
    check_files,
    parse_tranche,
)
from tcr_kit.custody.ledger import Ledger, LedgerIntegrityError
from tcr_kit.custody.policy import (
    LATER_ACTIONS,
    LATER_RULES,
    PolicyInvalid,
    default_policy_text,
    parse_policy,
)
from tcr_kit.errors import InputError

from .conftest import World

T0 = datetime(2027, 1, 1, tzinfo=UTC)


def _file(name: str, data: bytes = b"x") -> ArtifactFile:
    return ArtifactFile(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _artifact(*starts: datetime, ends: tuple[datetime | None, ...] = ()) -> Artifact:
    ends = ends or (None,) * len(starts)
    return Artifact(
        name="a",
        drive="D",
        tranches=tuple(
            Tranche(label=f"T{i}", not_before=s, not_after=e, files=(_file(f"f{i}"),))
            for i, (s, e) in enumerate(zip(starts, ends, strict=True))
        ),
        registered_at=T0,
        registered_by="ca-1",
    )


def test_parse_tranche_reads_label_dates_with_colons_and_files(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"alpha")
    (tmp_path / "b.xml").write_bytes(b"")
    t = parse_tranche("Q1:2027-01-01T12:30:00Z..2027-03-31:a.xml, b.xml", base=tmp_path)
    assert t.label == "Q1"
    assert t.not_before == datetime(2027, 1, 1, 12, 30, tzinfo=UTC)
    assert t.not_after == datetime(2027, 3, 31, tzinfo=UTC)
    assert [(f.name, f.size) for f in t.files] == [("a.xml", 5), ("b.xml", 0)]
    assert t.files[0].sha256 == hashlib.sha256(b"alpha").hexdigest()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Q1:a.xml", "expected LABEL:NOT_BEFORE"),
        ("Q1:2027-13-01:a.xml", "is not a date"),
        ("Q1:2027-02-01..2027-01-01:a.xml", "not_after must be after not_before"),
        ("Q1:2027-01-01:missing.xml", "no such file"),
        ("Q1:2027-01-01:a.xml,a.xml", "listed twice"),
        ("Q 1:2027-01-01:a.xml", "label"),
    ],
)
def test_parse_tranche_refuses_bad_specs_in_one_line(
    tmp_path: Path, spec: str, message: str
) -> None:
    (tmp_path / "a.xml").write_bytes(b"alpha")
    with pytest.raises(InputError, match=message) as err:
        parse_tranche(spec, base=tmp_path)
    assert "\n" not in str(err.value)


def test_a_schedule_out_of_order_overlapping_or_sharing_a_file_is_refused() -> None:
    with pytest.raises(ValueError, match="release order"):
        _artifact(T0 + timedelta(days=90), T0)
    with pytest.raises(ValueError, match="may not overlap"):
        _artifact(T0, T0 + timedelta(days=90), ends=(T0 + timedelta(days=91), None))
    with pytest.raises(ValueError, match="more than one tranche"):
        Artifact(
            name="a",
            drive="D",
            tranches=(
                Tranche(label="Q1", not_before=T0, files=(_file("same"),)),
                Tranche(label="Q2", not_before=T0 + timedelta(1), files=(_file("same"),)),
            ),
            registered_at=T0,
            registered_by="ca-1",
        )


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=6),
    probe=st.integers(min_value=-30, max_value=3000),
)
def test_windows_follow_one_another_and_each_instant_is_in_at_most_one(
    gaps: list[int], probe: int
) -> None:
    starts, day = [], 0
    for gap in gaps:
        day += gap
        starts.append(T0 + timedelta(days=day))
    art = _artifact(*starts)
    windows = [art.window(t.label) for t in art.tranches]
    for (_, end), (nxt, _) in itertools.pairwise(windows):
        assert end == nxt
    assert windows[-1][1] is None
    now = T0 + timedelta(days=probe)
    inside = [w for w in windows if w[0] <= now and (w[1] is None or now < w[1])]
    assert len(inside) == (1 if now >= starts[0] else 0)


def test_an_explicit_not_after_ends_the_window_before_the_next_tranche() -> None:
    q2 = T0 + timedelta(days=90)
    art = _artifact(T0, q2, ends=(T0 + timedelta(days=80), None))
    assert art.window("T0") == (T0, T0 + timedelta(days=80))
    assert art.window("T1") == (q2, None)
    with pytest.raises(InputError, match="has no tranche 'T9'"):
        art.window("T9")


def test_check_files_names_every_file_that_differs_is_missing_or_unknown(tmp_path: Path) -> None:
    art = Artifact(
        name="skr",
        drive="D",
        tranches=(
            Tranche(label="Q1", not_before=T0, files=(_file("a", b"aaaa"), _file("b", b"bb"))),
        ),
        registered_at=T0,
        registered_by="ca-1",
    )
    (tmp_path / "a").write_bytes(b"aaaa")
    assert [c.outcome for c in check_files(art, [tmp_path / "a"])] == ["ok"]
    (tmp_path / "b").write_bytes(b"bc")
    (tmp_path / "c").write_bytes(b"c")
    with pytest.raises(ArtifactFilesDiffer) as err:
        check_files(art, [tmp_path / "a", tmp_path / "b", tmp_path / "c", tmp_path / "d"])
    outcomes = [c.outcome for c in err.value.checks]
    assert outcomes == ["ok", "differs", "unknown", "missing"]
    assert "b differs (sha256" in str(err.value) and "c is not a registered file" in str(err.value)
    assert "d is missing" in str(err.value) and "a ok" not in str(err.value)
    assert err.value.exit_code == 3
    (tmp_path / "b").write_bytes(b"bbb")
    with pytest.raises(ArtifactFilesDiffer, match="size 3, registered 2"):
        check_files(art, [tmp_path / "b"])


def test_a_policy_written_before_the_later_actions_and_rules_still_loads_with_defaults() -> None:
    later = tuple(f'"{a}"' for a in LATER_ACTIONS) + tuple(f"{k} " for k in LATER_RULES)
    lines = [line for line in default_policy_text().splitlines() if not line.startswith(later)]
    old = parse_policy("\n".join(lines), "policy recorded in audit event 9")
    assert old.defaulted == LATER_ACTIONS | set(LATER_RULES)
    assert {r.value for r in old.actions["artifact.release"]} == {"CA"}
    assert old.override_people == LATER_RULES["override_people"] == 2
    assert parse_policy(default_policy_text()).defaulted == frozenset()
    missing_old_action = [line for line in lines if not line.startswith('"bag.open"')]
    with pytest.raises(PolicyInvalid, match=r"'bag\.open' is not listed"):
        parse_policy("\n".join(missing_old_action))
    missing_old_rule = [line for line in lines if not line.startswith("critical_people ")]
    with pytest.raises(PolicyInvalid, match="critical_people"):
        parse_policy("\n".join(missing_old_rule))


def test_a_ledger_from_before_artifacts_still_verifies_read_only(world: World) -> None:
    world.ledger.close()
    db = sqlite3.connect(world.path, isolation_level=None)
    db.execute("DROP TABLE artifact_release")
    db.execute("DROP TABLE artifact")
    db.execute("PRAGMA user_version = 1")
    db.close()
    with Ledger.open(world.path, read_only=True) as old:
        assert old.verify().events > 0
        assert old.artifacts() == [] and old.releases() == []
    with Ledger.open(world.path) as migrated:  # a writable open migrates it
        assert migrated.schema_version == 2 and migrated.has_table("artifact")
        migrated.verify()
    db = sqlite3.connect(world.path, isolation_level=None)
    db.execute("DROP TABLE artifact_release")  # schema 2 says it must be there
    db.close()
    with pytest.raises(LedgerIntegrityError, match="missing artifact_release"):
        Ledger.open(world.path, read_only=True)
    world.ledger = Ledger.open(world.path)


def test_a_file_changed_between_the_check_and_the_copy_leaves_no_file(tmp_path: Path) -> None:
    from tcr_kit.custody.ledger.artifacts import _copy_verified

    src, out = tmp_path / "drive", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "a").write_bytes(b"aaaa")
    (src / "b").write_bytes(b"bb changed after the check")
    tranche = Tranche(label="Q1", not_before=T0, files=(_file("a", b"aaaa"), _file("b", b"bb")))
    with pytest.raises(ArtifactFilesDiffer, match=r"changed while copying.*b differs"):
        _copy_verified(tranche, src, [out / "a", out / "b"])
    assert list(out.iterdir()) == []
    (src / "b").write_bytes(b"bb")
    assert _copy_verified(tranche, src, [out / "a", out / "b"]) == [out / "a", out / "b"]
    assert (out / "b").read_bytes() == b"bb" and (out / "a").stat().st_mode & 0o777 == 0o644
