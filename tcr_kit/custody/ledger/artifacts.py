"""Pre-signed artifacts in the ledger: register one (files, drive, schedule), release a
tranche (custody of the drive, window, once only, files checked, copied all or none), and
read them back checked against the audit log.

Records and pure checks are in :mod:`tcr_kit.custody.artifacts`; ``docs/artifacts.md``
says what each refusal means. A release never reseals the drive: that is the next step,
``tcr bag reseal OLD NEW`` (its own actor, witness and policy), named in the outcome.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tcr_kit._testpause import pause_for_tests
from tcr_kit.clock import isoformat, utcnow
from tcr_kit.custody.artifacts import (
    Artifact,
    ArtifactFilesDiffer,
    FileCheck,
    Release,
    ReleaseRefused,
    Tranche,
    check_one,
    describe_window,
    release_key,
)
from tcr_kit.custody.errors import NotFound
from tcr_kit.custody.ledger.discrepancies import DiscrepanciesMixin
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.lifecycle import BagState, CredentialState, WitnessRequired
from tcr_kit.custody.models import (
    Bag,
    Ceremony,
    Credential,
    CredentialKind,
    DiscrepancyCategory,
    Severity,
)
from tcr_kit.custody.models import build as _build
from tcr_kit.errors import FileExistsRefused, InputError, OperationalError

__all__ = ["ArtifactsMixin", "ReleaseOutcome", "TrancheStatus"]

RELEASED_MODE = 0o644
"""Released files are public (they go to the servers): world-readable."""


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a release did (or, in a dry run, would do)."""

    release: Release
    checks: tuple[FileCheck, ...]
    outputs: tuple[Path, ...]
    bag: str
    """The bag the drive came out of: reseal it next (``tcr bag reseal``)."""
    dry_run: bool


@dataclass(frozen=True)
class TrancheStatus:
    """A tranche as ``tcr artifact show`` lists it."""

    label: str
    start: datetime
    end: datetime | None
    files: int
    state: str
    """``released``, ``due`` (in its window now), ``not yet`` or ``missed`` (window over)."""
    released_at: datetime | None = None
    released_by: str | None = None
    witness: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "not_before": isoformat(self.start),
            "until": isoformat(self.end) if self.end else None,
            "files": self.files,
            "state": self.state,
            "released_at": isoformat(self.released_at) if self.released_at else None,
            "released_by": self.released_by,
            "witness": self.witness,
        }


class ArtifactsMixin(DiscrepanciesMixin):
    """Register artifacts, release their tranches, and read them checked."""

    # -- reading ---------------------------------------------------------------------------
    def artifacts(self) -> list[Artifact]:
        return self._all(Artifact) if self.has_table("artifact") else []

    def artifact(self, name: str) -> Artifact:
        if not self.has_table("artifact"):
            raise NotFound(f"artifact {name} is not in the ledger")
        return self._get(Artifact, name, "artifact")

    def releases(self, artifact: str | None = None) -> list[Release]:
        if not self.has_table("artifact_release"):
            return []
        return [r for r in self._all(Release) if artifact is None or r.artifact == artifact]

    def checked_artifact(self, name: str) -> tuple[Artifact, list[Release]]:
        """Artifact ``name`` and its releases, after checking their rows against the audit
        log (a row edited, deleted or inserted behind the tool's back: exit 3), so a file
        is never compared with a forged hash."""
        if not self.has_table("artifact"):
            raise NotFound(f"artifact {name} is not in the ledger")
        subjects = [f"artifact:{name}"]
        found = self._get_or_none(Artifact, name)  # its own row is checked first below
        if found is not None:
            subjects += [f"artifact-release:{release_key(name, t.label)}" for t in found.tranches]
        self._check_rows(subjects)
        artifact = self.artifact(name)
        return artifact, self.releases(name)

    def tranche_status(self, name: str, *, now: datetime | None = None) -> list[TrancheStatus]:
        """Each tranche of artifact ``name``: window, files, and released or not."""
        artifact, releases = self.checked_artifact(name)
        done = {r.tranche: r for r in releases}
        now = now or utcnow()
        out = []
        for t in artifact.tranches:
            start, end = artifact.window(t.label)
            r = done.get(t.label)
            if r is not None:
                state = "released"
            elif now < start:
                state = "not yet"
            elif end is not None and now >= end:
                state = "missed"
            else:
                state = "due"
            out.append(
                TrancheStatus(
                    t.label,
                    start,
                    end,
                    len(t.files),
                    state,
                    r.released_at if r else None,
                    r.released_by if r else None,
                    r.witness if r else None,
                )
            )
        return out

    # -- register --------------------------------------------------------------------------
    @serialised
    def register_artifact(
        self,
        actor: Actor,
        name: str,
        drive: str,
        tranches: Sequence[Tranche],
        *,
        dry_run: bool = False,
    ) -> Artifact:
        """Record artifact ``name``: its files (names, SHA-256, sizes) in ``tranches`` (in
        release order) on the ``usb-drive`` credential ``drive``; one signed
        ``artifact.register`` event."""
        self._check_rows([f"artifact:{name}"])
        cred = self.credential(drive)
        self._permit("artifact.register", actor, credentials=[cred])
        if cred.kind is not CredentialKind.USB_DRIVE:
            raise InputError(f"credential {drive} is a {cred.kind.value}, not a usb-drive")
        if cred.state in (CredentialState.RETIRED, CredentialState.LOST, CredentialState.DESTROYED):
            raise InputError(f"drive {drive} is {cred.state.value}")
        if self._get_or_none(Artifact, name) is not None:
            raise InputError(
                f"artifact {name} is already registered (an artifact is recorded once)"
            )
        artifact = _build(
            Artifact,
            name=name,
            drive=drive,
            tranches=tuple(tranches),
            registered_at=utcnow(),
            registered_by=actor.person,
            ceremony=self.ceremony_number,
        )
        files = sum(len(t.files) for t in artifact.tranches)
        with self._change(
            actor,
            "artifact.register",
            [f"artifact:{name}", f"credential:{drive}"],
            {"tranches": len(artifact.tranches), "files": files},
            dry_run=dry_run,
        ):
            self._put(artifact)
        return artifact

    # -- release ---------------------------------------------------------------------------
    @serialised
    def release_tranche(
        self,
        actor: Actor,
        name: str,
        label: str,
        *,
        witness: str,
        source: Path,
        output_dir: Path,
        dry_run: bool = False,
    ) -> ReleaseOutcome:
        """Release tranche ``label`` of artifact ``name``: copy its files from ``source``
        (the drive) into ``output_dir`` and record the ``artifact.release`` event.

        In order, each refusing before anything is written (a dry run refuses the same):
        the rows against the audit log (exit 3); the policy (``artifact.release``, a staff
        witness other than the actor, neither holding the drive or its bag: exit 5); the
        tranche not released already, the time within its window, the drive's custody
        (out of a bag opened at a recorded ceremony, no open discrepancy on it, its bags or
        its holder; no earlier tranche released since that bag was opened)
        (:class:`ReleaseRefused`, exit 3); every file of the tranche in
        ``source`` with its registered size and SHA-256 (:class:`ArtifactFilesDiffer`
        naming each, exit 3); no output file already there. The files are copied all or
        none, hashed again as they are copied, inside the transaction of the event.

        A file that *differs* (found at the check or while copying) is tamper evidence: the
        refusal is recorded as an ``artifact.release-refused`` event that opens a critical
        tamper discrepancy on the drive, its bag and the artifact, in one transaction
        (:meth:`_refuse_tampered`), so the drive is blocked until the IW resolves it. A
        file only missing opens none (a wrong ``source`` folder looks the same)."""
        artifact, releases = self.checked_artifact(name)
        tranche = artifact.tranche(label)
        cred = self.credential(artifact.drive)
        bag = self._drive_bag(cred)
        if not witness:
            raise WitnessRequired(f"releasing {name} {label} needs a witness")
        self._require_person(witness, "witness")
        self._permit(
            "artifact.release",
            actor,
            witness=witness,
            bags=[bag] if bag else [],
            credentials=[cred],
            vouching=True,
        )
        key = release_key(name, label)
        done = next((r for r in releases if r.key == key), None)
        if done is not None:
            raise ReleaseRefused(
                f"tranche {label} of {name} was already released at "
                f"{isoformat(done.released_at)} by {done.released_by}"
            )
        now = utcnow()
        start, end = artifact.window(label)
        if now < start or (end is not None and now >= end):
            when = "too early" if now < start else "its window has closed"
            raise ReleaseRefused(
                f"tranche {label} of {name} may be released {describe_window(start, end)}; "
                f"it is now {isoformat(now)} ({when})"
            )
        bag, opened_in = self._drive_custody(cred, bag)
        earlier = next((r for r in releases if r.bag == bag.serial), None)
        if earlier is not None:
            raise ReleaseRefused(
                f"drive {cred.id} has been out of bag {bag.serial} since tranche "
                f"{earlier.tranche} was released: put it into a new bag first "
                f"(tcr bag reseal {bag.serial} NEW_SERIAL), then inspect and open that bag "
                "at a ceremony (one opening, one release)"
            )
        checks = [check_one(f, source / f.name, label) for f in tranche.files]
        if not all(c.ok for c in checks):
            refused = ArtifactFilesDiffer(f"tranche {label} of {name} in {source}", checks)
            raise self._refuse_tampered(actor, refused, name, label, cred, bag, witness, dry_run)
        outputs = [output_dir / f.name for f in tranche.files]
        todo = _outputs_to_write(tranche, outputs)
        release = _build(
            Release,
            key=key,
            artifact=name,
            tranche=label,
            released_at=now,
            released_by=actor.person,
            witness=witness,
            drive=cred.id,
            bag=bag.serial,
            drive_opened_in=opened_in,
            ceremony=self.ceremony_number,
            files=tranche.files,
        )
        subjects = [
            f"artifact:{name}",
            f"artifact-release:{key}",
            f"credential:{cred.id}",
            f"bag:{bag.serial}",
            f"person:{witness}",
        ]
        extra = {"witness": witness, "artifact": name, "tranche": label, "bag": bag.serial}
        copied: list[Path] = []
        try:
            with self._change(actor, "artifact.release", subjects, extra, dry_run=dry_run):
                self._put(release)
                if not dry_run:
                    copied = _copy_verified(tranche, source, outputs, only=todo)
        except ArtifactFilesDiffer as exc:  # changed while copying: nothing was kept
            raise self._refuse_tampered(
                actor, exc, name, label, cred, bag, witness, dry_run
            ) from None
        except BaseException:
            for path in copied:  # recorded nothing: take the files back
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        return ReleaseOutcome(release, tuple(checks), tuple(outputs), bag.serial, dry_run)

    def _refuse_tampered(
        self,
        actor: Actor,
        refused: ArtifactFilesDiffer,
        name: str,
        label: str,
        cred: Credential,
        bag: Bag,
        witness: str,
        dry_run: bool,
    ) -> ArtifactFilesDiffer:
        """Record a release refused because a file differs: one ``artifact.release-refused``
        event opening a tamper discrepancy, in one transaction; returns the error to raise
        (the same message, naming the discrepancy). Missing files alone record nothing.

        The witness is named in the event (``witnesses``) but does not co-sign it: they
        vouched for a release, not for this refusal."""
        differ = [c for c in refused.checks if c.outcome == "differs"]
        if not differ:
            return refused
        files = ", ".join(c.describe() for c in differ)
        problem = (
            DiscrepancyCategory.TAMPER,
            Severity.CRITICAL,
            f"release of tranche {label} of {name} refused: drive {cred.id} holds files that "
            f"are not the registered ones: {files}",
        )
        objects = [f"credential:{cred.id}", f"bag:{bag.serial}", f"artifact:{name}"]
        extra = {
            "artifact": name,
            "tranche": label,
            "bag": bag.serial,
            "witnesses": [witness],
            "files": [c.to_json() for c in refused.checks if not c.ok],
        }
        opened = self._record_with_discrepancies(
            actor, "artifact.release-refused", list(objects), [], [problem], extra, objects,
            ceremony=self.ceremony_number, dry_run=dry_run,
        )  # fmt: skip
        return ArtifactFilesDiffer(refused.what, refused.checks, opened, dry_run=dry_run)

    def _drive_bag(self, cred: Credential) -> Bag | None:
        """The bag the drive was last taken out of (opened, not resealed), if any."""
        opened = [b for b in self.bags() if cred.id in b.contents and b.state is BagState.OPENED]
        return max(opened, key=lambda b: b.sealed_at) if opened else None

    def _drive_custody(self, cred: Credential, bag: Bag | None) -> tuple[Bag, int]:
        """The drive's bag and the ceremony it was opened at; :class:`ReleaseRefused` unless
        the drive is out of a bag opened at a recorded ceremony, with no open discrepancy
        on it, on any bag it was in, or on its holder."""
        why = self.activation_refusal(cred)
        if why is not None:
            raise ReleaseRefused(f"drive custody: {why}")
        if bag is None:
            raise ReleaseRefused(
                f"drive {cred.id} was not taken out of a bag opened at a recorded ceremony "
                "(seal it, then inspect and open the bag at a ceremony)"
            )
        opening = [e for e in self.history(f"bag:{bag.serial}") if e.get("kind") == "bag.open"]
        payload = opening[-1].get("payload") if opening else None
        number = payload.get("ceremony") if isinstance(payload, dict) else None
        if not isinstance(number, int) or self._get_or_none(Ceremony, number) is None:
            raise ReleaseRefused(
                f"drive {cred.id}: bag {bag.serial} was not opened at a recorded ceremony "
                "(open it with 'tcr ceremony open' running)"
            )
        return bag, number


PAUSE_BEFORE_COPY_ENV = "TCR_TEST_PAUSE_BEFORE_COPY"
"""Test hook: the path of a FIFO a release reads to its end once the tranche's files on the
drive were checked and before they are copied, so that a test can change a file in between
(the refusal "changed while copying"). Unset outside the tests: set to anything but a FIFO
(a stray variable, a missing path, a plain file or a device) the release is refused
(:class:`InputError`, exit 2, naming the variable) before anything is copied or recorded.
It can only delay a release, never skip a check: the copy hashes every byte it writes."""


def _pause_for_tests() -> None:
    pause_for_tests(PAUSE_BEFORE_COPY_ENV, "nothing was copied or recorded")


def _outputs_to_write(tranche: Tranche, outputs: Sequence[Path]) -> set[Path]:
    """The outputs to write. One already there with exactly the registered size and SHA-256
    is kept as it is (a retry after a release interrupted between copying and recording);
    anything else there is refused (:class:`FileExistsRefused`, exit 1): never overwritten."""
    todo = set()
    for f, out in zip(tranche.files, outputs, strict=True):
        if not (out.exists() or out.is_symlink()):
            todo.add(out)
        elif out.is_symlink() or not check_one(f, out, tranche.label).ok:
            raise FileExistsRefused(str(out))
    return todo


def _copy_verified(
    tranche: Tranche, source: Path, outputs: Sequence[Path], *, only: set[Path] | None = None
) -> list[Path]:
    """Copy the tranche's files (those in ``only``, default all) all or none
    (:func:`tcr_kit.fileio.atomic_outputs`, never overwriting), hashing what is copied: a
    file changed since it was checked is refused and nothing is left. Returns the paths
    written."""
    from tcr_kit.fileio import atomic_outputs

    pairs = [
        (f, o) for f, o in zip(tranche.files, outputs, strict=True) if only is None or o in only
    ]
    targets = [o for _, o in pairs]
    _pause_for_tests()  # the files were checked; a test may change one now
    try:
        with atomic_outputs(targets, mode=RELEASED_MODE) as handles:
            changed = []
            for (f, _), handle in zip(pairs, handles, strict=True):
                digest, size = hashlib.sha256(), 0
                with open(source / f.name, "rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
                        size += len(block)
                        handle.write(block)
                if size != f.size or not hmac.compare_digest(digest.hexdigest(), f.sha256):
                    changed.append(
                        FileCheck(f.name, str(source / f.name), "differs", digest.hexdigest(),
                                  size, tranche.label, f.sha256, f.size)
                    )  # fmt: skip
            if changed:
                raise ArtifactFilesDiffer(
                    f"tranche {tranche.label}: changed while copying", changed
                )
    except OSError as exc:
        raise OperationalError(f"cannot copy the tranche: {exc.strerror or exc}") from None
    return targets
