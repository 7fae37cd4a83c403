"""Pre-signed artifacts released in tranches: the records, the release schedule, the file
checks, and reading an artifact back from a verified transcript.

One ceremony may sign months of output at once (three quarterly Signed Key Responses, for
example). The files are kept on a drive (a ``usb-drive`` credential, normally sealed in a
tamper-evident bag) and released a tranche at a time. The ledger records, as signed events:

* :class:`Artifact` (table ``artifact``): every file's SHA-256 and size, the drive, and the
  schedule: tranches, each with a window ``[not_before, end)`` where ``end`` is the explicit
  ``not_after`` or else the next tranche's ``not_before`` (the last tranche without
  ``not_after`` stays open);
* :class:`Release` (table ``artifact_release``, key ``NAME/LABEL``): who released which
  tranche when, with which witness, from which bag the drive came, and the files released.

``docs/artifacts.md`` describes the formats and the checks. The ledger side (who may, the
custody of the drive) is :mod:`tcr_kit.custody.ledger.artifacts`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints, ValidationError, model_validator

from tcr_kit.clock import isoformat
from tcr_kit.custody.models import (
    CredentialId,
    Discrepancy,
    PersonId,
    Record,
    Sha256Hex,
    build,
)
from tcr_kit.errors import InputError, IntegrityError

__all__ = [
    "Artifact",
    "ArtifactFile",
    "ArtifactFilesDiffer",
    "FileCheck",
    "Release",
    "ReleaseRefused",
    "Tranche",
    "TranscriptArtifact",
    "artifact_from_transcript",
    "check_files",
    "check_one",
    "describe_file",
    "describe_window",
    "parse_tranche",
    "release_key",
]

ArtifactName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
"""An artifact's name (e.g. ``ksk-2027-skr``), unique in the ledger."""
TrancheLabel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
"""A tranche's label within its artifact (e.g. ``Q1``)."""
FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")]
"""A file's base name: no folder, no leading dot, no ``:`` (the tranche syntax uses it)."""


class ArtifactFile(Record):
    """One registered file: its base name, SHA-256 (hex) and size in bytes."""

    name: FileName
    sha256: Sha256Hex
    size: int = Field(ge=0)


class Tranche(Record):
    """A part of an artifact released together, not before ``not_before``."""

    label: TrancheLabel
    not_before: AwareDatetime
    not_after: AwareDatetime | None = None
    """Explicit end of the window (exclusive); ``None``: the next tranche's ``not_before``."""
    files: tuple[ArtifactFile, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _window(self) -> Tranche:
        if self.not_after is not None and self.not_after <= self.not_before:
            raise ValueError(f"tranche {self.label}: not_after must be after not_before")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"tranche {self.label}: a file is listed twice")
        return self


class Artifact(Record):
    """A set of pre-signed files on a drive, and their release schedule."""

    name: ArtifactName
    drive: CredentialId
    tranches: tuple[Tranche, ...] = Field(min_length=1)
    registered_at: AwareDatetime
    registered_by: PersonId
    ceremony: int | None = Field(default=None, ge=1)
    """The ceremony open when the artifact was registered (normally the signing one)."""

    @model_validator(mode="after")
    def _schedule(self) -> Artifact:
        labels = [t.label for t in self.tranches]
        if len(set(labels)) != len(labels):
            raise ValueError("a tranche label is used twice")
        names = [f.name for t in self.tranches for f in t.files]
        if len(set(names)) != len(names):
            dup = sorted(n for n in set(names) if names.count(n) > 1)[0]
            raise ValueError(f"file {dup} is in more than one tranche")
        for before, after in itertools.pairwise(self.tranches):
            if after.not_before <= before.not_before:
                raise ValueError(
                    f"tranche {after.label} must start after tranche {before.label} "
                    "(tranches are listed in release order)"
                )
            if before.not_after is not None and before.not_after > after.not_before:
                raise ValueError(
                    f"tranche {before.label} ends after tranche {after.label} starts "
                    "(windows may not overlap)"
                )
        return self

    def tranche(self, label: str) -> Tranche:
        """The tranche labelled ``label``; :class:`InputError` naming the labels if none."""
        for t in self.tranches:
            if t.label == label:
                return t
        known = ", ".join(t.label for t in self.tranches)
        raise InputError(f"artifact {self.name} has no tranche {label!r} (it has {known})")

    def window(self, label: str) -> tuple[datetime, datetime | None]:
        """The tranche's release window ``[start, end)``: ``end`` is its ``not_after``,
        else the next tranche's ``not_before``, else ``None`` (open)."""
        tranches = list(self.tranches)
        t = self.tranche(label)
        i = tranches.index(t)
        end = t.not_after
        if end is None and i + 1 < len(tranches):
            end = tranches[i + 1].not_before
        return t.not_before, end

    def file(self, name: str) -> tuple[Tranche, ArtifactFile] | None:
        """The registered file named ``name`` and its tranche, if any."""
        for t in self.tranches:
            for f in t.files:
                if f.name == name:
                    return t, f
        return None


class Release(Record):
    """One tranche released: by whom, witnessed by whom, when, from which bag the drive
    came out (and at which ceremony it was opened), and the files that were copied."""

    key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}/.+$")]
    """``NAME/LABEL`` (:func:`release_key`): one release per tranche."""
    artifact: ArtifactName
    tranche: TrancheLabel
    released_at: AwareDatetime
    released_by: PersonId
    witness: PersonId
    drive: CredentialId
    bag: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$")]
    """The bag the drive was taken out of for this release."""
    drive_opened_in: int = Field(ge=1)
    """The ceremony at which that bag was opened."""
    ceremony: int | None = Field(default=None, ge=1)
    """The ceremony open at the release, if any (a release may happen between ceremonies)."""
    files: tuple[ArtifactFile, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Release:
        if self.key != release_key(self.artifact, self.tranche):
            raise ValueError("key must be ARTIFACT/TRANCHE")
        if self.witness == self.released_by:
            raise ValueError("the witness must be someone other than the releaser")
        return self


def release_key(artifact: str, tranche: str) -> str:
    """The ledger key (and subject ``artifact-release:KEY``) of a tranche's release."""
    return f"{artifact}/{tranche}"


class ReleaseRefused(IntegrityError):
    """Custody refuses the release: the drive's custody, the window, or a tranche already
    released (exit 3)."""


@dataclass(frozen=True)
class FileCheck:
    """One file compared with the registered one of the same name."""

    name: str
    path: str
    outcome: Literal["ok", "differs", "missing", "unknown"]
    sha256: str | None
    """SHA-256 of the file found (``None`` when missing)."""
    size: int | None
    tranche: str | None = None
    expected_sha256: str | None = None
    expected_size: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def describe(self) -> str:
        """E.g. ``"Q2.xml differs (size 10 instead of 12)"``."""
        if self.outcome == "ok":
            return f"{self.name} ok"
        if self.outcome == "missing":
            return f"{self.name} is missing"
        if self.outcome == "unknown":
            return f"{self.name} is not a registered file"
        if self.size != self.expected_size:
            return f"{self.name} differs (size {self.size}, registered {self.expected_size})"
        return f"{self.name} differs (sha256 {self.sha256}, registered {self.expected_sha256})"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "outcome": self.outcome,
            "sha256": self.sha256,
            "size": self.size,
            "tranche": self.tranche,
            "expected_sha256": self.expected_sha256,
            "expected_size": self.expected_size,
        }


class ArtifactFilesDiffer(IntegrityError):
    """Files that are not the registered ones (exit 3); ``checks`` has every file's result
    and the message names each one that differs, is missing or is unknown."""

    def __init__(
        self,
        what: str,
        checks: Sequence[FileCheck],
        discrepancies: Sequence[Discrepancy] = (),
        *,
        dry_run: bool = False,
    ) -> None:
        bad = [c.describe() for c in checks if not c.ok]
        message = f"{what}: {'; '.join(bad)}"
        if discrepancies:
            ids = ", ".join(
                f"{d.id} ({d.category.value}, {d.severity.value})" for d in discrepancies
            )
            message += (
                f"; dry run: would open discrepancy {ids}"
                if dry_run
                else f"; discrepancy opened: {ids}; resolve it before the drive is used again"
            )
        super().__init__(message)
        self.what = what
        self.checks = list(checks)
        self.discrepancies = list(discrepancies)
        """The tamper discrepancies the refusal opened (a release refused in the ledger)."""


def _hash_and_size(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
                size += len(block)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    return digest.hexdigest(), size


def describe_file(path: str | os.PathLike[str]) -> ArtifactFile:
    """The record of the file at ``path`` (base name, SHA-256, size); :class:`InputError`
    if it cannot be read or its name is not a valid file name."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    sha256, size = _hash_and_size(p)
    return build(ArtifactFile, name=p.name, sha256=sha256, size=size)


def check_one(expected: ArtifactFile, path: Path, tranche: str | None) -> FileCheck:
    """Compare the file at ``path`` with ``expected`` (size and SHA-256, constant time)."""
    if not path.is_file():
        return FileCheck(
            expected.name, str(path), "missing", None, None, tranche, expected.sha256, expected.size
        )
    sha256, size = _hash_and_size(path)
    same = size == expected.size and hmac.compare_digest(sha256, expected.sha256)
    return FileCheck(
        expected.name,
        str(path),
        "ok" if same else "differs",
        sha256,
        size,
        tranche,
        expected.sha256,
        expected.size,
    )


def check_files(artifact: Artifact, paths: Iterable[str | os.PathLike[str]]) -> list[FileCheck]:
    """Check files served on the web (or anywhere) against the registered ones, by base
    name. Returns every result; raises :class:`ArtifactFilesDiffer` (exit 3) if any file
    differs, is missing, or has a name the artifact does not register."""
    checks: list[FileCheck] = []
    for raw in paths:
        path = Path(raw)
        found = artifact.file(path.name)
        if found is None:
            if not path.is_file():
                checks.append(FileCheck(path.name, str(path), "missing", None, None))
                continue
            sha256, size = _hash_and_size(path)
            checks.append(FileCheck(path.name, str(path), "unknown", sha256, size))
            continue
        checks.append(check_one(found[1], path, found[0].label))
    if not checks:
        raise InputError("no files to check")
    if not all(c.ok for c in checks):
        raise ArtifactFilesDiffer(f"artifact {artifact.name}", checks)
    return checks


# -- the command-line form of a tranche ----------------------------------------------------
def _when(text: str, spec: str) -> datetime:
    from tcr_kit.audit.selection import parse_utc

    try:
        return parse_utc(text.strip())
    except InputError:
        raise InputError(
            f"tranche {spec!r}: {text!r} is not a date (YYYY-MM-DD or ISO 8601, UTC)"
        ) from None


def parse_tranche(spec: str, *, base: str | os.PathLike[str] | None = None) -> Tranche:
    """A tranche from ``LABEL:NOT_BEFORE[..NOT_AFTER]:FILE[,FILE...]``: the label is up to
    the first ``:``, the files after the last one (paths, relative to ``base`` if given),
    the dates in between (``YYYY-MM-DD`` or ISO 8601; UTC unless a zone is written). Each
    file is hashed now. :class:`InputError` naming the fault."""
    label, sep1, rest = spec.partition(":")
    dates, sep2, files = rest.rpartition(":")
    if not (sep1 and sep2 and label and dates and files):
        raise InputError(f"tranche {spec!r}: expected LABEL:NOT_BEFORE[..NOT_AFTER]:FILE[,FILE]")
    start_text, dots, end_text = dates.partition("..")
    not_before = _when(start_text, spec)
    not_after = _when(end_text, spec) if dots else None
    folder = Path(base) if base is not None else Path()
    described = [describe_file(folder / name.strip()) for name in files.split(",") if name.strip()]
    if not described:
        raise InputError(f"tranche {spec!r}: no files")
    try:
        return Tranche(
            label=label.strip(),
            not_before=not_before,
            not_after=not_after,
            files=tuple(described),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise InputError(f"tranche {spec!r}: {where}: {err.get('msg')}") from None


def describe_window(start: datetime, end: datetime | None) -> str:
    """``"from 2027-01-01T00:00:00Z until 2027-04-01T00:00:00Z"`` (or ``"... on"``)."""
    return f"from {isoformat(start)} " + (f"until {isoformat(end)}" if end else "on")


# -- offline: from a verified transcript ---------------------------------------------------
@dataclass(frozen=True)
class TranscriptArtifact:
    """An artifact as the last event of a verified transcript recorded it, and its releases."""

    artifact: Artifact
    releases: tuple[Release, ...]
    event: int
    """The audit event that recorded the artifact."""
    head: str
    """The transcript's verified head (SHA-256 hex)."""


def artifact_from_transcript(
    path: str | os.PathLike[str], name: str, *, expect_head: str | None = None
) -> TranscriptArtifact:
    """Verify the transcript at ``path`` (chain, signatures, keys, head; ``expect_head`` as
    for ``tcr audit verify``), then read artifact ``name`` and its releases from the
    records its events carry. For a member of the public without the ledger."""
    from tcr_kit.audit.timeline import read_timeline

    timeline, _ = read_timeline(path, expect_head=expect_head)
    found: tuple[int, dict[str, Any]] | None = None
    releases: dict[str, dict[str, Any]] = {}
    for entry in timeline.entries:
        for rec in entry.records:
            if rec.get("table") == "artifact" and rec.get("key") == name:
                found = (entry.seq, rec["doc"])
            elif rec.get("table") == "artifact_release" and isinstance(rec.get("doc"), dict):
                if rec["doc"].get("artifact") == name:
                    releases[str(rec.get("key"))] = rec["doc"]
    if found is None:
        raise InputError(f"{path}: the transcript records no artifact {name!r}")
    try:
        artifact = Artifact.model_validate_json(json.dumps(found[1]))
        done = tuple(Release.model_validate_json(json.dumps(d)) for d in releases.values())
    except ValidationError as exc:
        raise IntegrityError(
            f"{path}: event {found[0]}: artifact record is not valid: {exc.errors()[0]['msg']}"
        ) from None
    return TranscriptArtifact(artifact, done, found[0], timeline.head)
