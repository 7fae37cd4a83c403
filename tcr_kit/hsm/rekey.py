"""Rekey: a new activation secret and share set for the HSM, without ever losing a secret.

1. Collect m shares of the current epoch (every activation check applies).
2. Generate the new secret, split it m'-of-n', write the share files (0600, all or none)
   and ``rekey-state.json`` (no secret: set ids, epochs, file names, share digests), read
   the files back and check they recombine to the new secret.
3. Ask ``confirm`` (the CLI shows both share sets and wants a typed ``yes``).
4. Log in with the old PIN, ``C_SetPIN`` to the new PIN; log in with the new PIN and
   rewrite the activation marker (current = new epoch, old epoch retired); read it back.
5. Ledger: add the new share set, retire the old one; audit event ``hsm.rekey``.

Re-running with the same ``output_dir`` resumes: the state file names the new shares,
which are reused. If the marker already names the new set only the ledger step remains;
otherwise the new PIN is tried first (an interruption between 4a and 4b), then the old
quorum is used. The old shares work until step 4a; the new shares exist, verified, before
it. The state file is removed when everything is done.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcr_kit.errors import InputError, OperationalError
from tcr_kit.fileio import atomic_outputs
from tcr_kit.hsm.activation import Activation, Quorum, Source
from tcr_kit.hsm.errors import HsmError, SharesDoNotMatchHsm, WrongShareSet
from tcr_kit.hsm.events import REKEY
from tcr_kit.hsm.pin import derive_user_pin
from tcr_kit.hsm.provision import SECRET_BYTES, manifest_path, manifest_record, write_marker
from tcr_kit.hsm.token import EpochRef, Marker
from tcr_kit.secrets import SecretBuffer, random_bytes

STATE_NAME = "rekey-state.json"


class StateFileInvalid(InputError):
    """``rekey-state.json`` is not the state document a rekey writes (edited or foreign)."""


@dataclass
class RekeyResult:
    old: EpochRef
    new: EpochRef
    threshold: int
    count: int
    share_files: list[Path]
    share_digests: list[str]
    new_share_set_id: str
    resumed: bool = False
    steps: list[str] = field(default_factory=list)

    def facts(self) -> dict[str, Any]:
        return {
            "old": self.old.__dict__,
            "new": self.new.__dict__,
            "threshold": self.threshold,
            "count": self.count,
            "share_files": [str(p) for p in self.share_files],
            "share_digests": self.share_digests,
            "new_share_set_id": self.new_share_set_id,
            "resumed": self.resumed,
            "steps": self.steps,
        }

    def describe_change(self, token: str, output_dir: Path) -> list[str]:
        """What the confirmation is asked for: both share sets and every new share."""
        return [
            f"about to change the user PIN of {token}:",
            f"  retire epoch {self.old.epoch} (set {self.old.set_id})",
            f"  activate epoch {self.new.epoch} (set {self.new.set_id},"
            f" {self.threshold}-of-{self.count}), shares in {output_dir}:",
            *(
                f"    {path.name}  sha256 {digest}"
                for path, digest in zip(self.share_files, self.share_digests, strict=True)
            ),
        ]

    def describe(self, hsm_name: str, config_path: Path, *, recorded: bool = False) -> list[str]:
        """The steps done, and what to change in the configuration now: with ``recorded``
        (the rekey is in the ledger) the command that writes its next version."""
        change = (
            f'[share_set] id = "{self.new_share_set_id}", epoch = {self.new.epoch}, threshold'
            f" = {self.threshold}, count = {self.count}"
        )
        lines = [
            *(f"  {step}" for step in self.steps),
            f"rekeyed {hsm_name}: epoch {self.new.epoch}, set {self.new.set_id}."
            + (
                f" Next, the config's new version ({change}), recorded: tcr hsm config-rekey"
                f" --config {config_path} --output {config_path} --force (with --as and --key)"
                if recorded
                else f" Update {config_path}: {change}"
            ),
        ]
        manifest = manifest_path(self.share_files[0].parent, hsm_name, self.new.epoch)
        if manifest.exists():  # a rekey begun before manifests were written has none
            lines.append(
                f"the new set's manifest: {manifest} (unsigned: tcr shares sign, then tcr"
                f" shares register --share-set {self.new_share_set_id})"
            )
        return lines


def _new_pin(activation: Activation, files: list[Path], threshold: int) -> SecretBuffer:
    from tcr_kit.sharing.native import combine_shares, open_share_file

    shares = [open_share_file(p) for p in files[:threshold]]
    with combine_shares(shares).secret as secret:
        return derive_user_pin(
            secret,
            bytes.fromhex(shares[0].set_id_hex),
            info=activation.config.pin.info,
            length=activation.config.pin.length,
        )


def _write_shares(
    activation: Activation,
    threshold: int,
    count: int,
    output_dir: Path,
    epoch: int,
    state: Callable[[str, list[Path], list[str]], bytes],
) -> tuple[str, list[Path], list[str]]:
    """Write the new share files and the state file ``state(...)`` renders, all or none."""
    from tcr_kit.sharing.native import combine_shares, decode_share, split_bytes

    stem = activation.config.hsm.name.replace(" ", "_")
    files = [output_dir / f"{stem}-epoch{epoch}-share-{i:03d}.txt" for i in range(1, count + 1)]
    with SecretBuffer(random_bytes(SECRET_BYTES)) as secret:
        shares = split_bytes(
            secret, threshold, count, label=f"{activation.config.hsm.name} activation epoch {epoch}"
        )
        digests = [s.digest().hex() for s in shares]
        set_id = shares[0].set_id_hex
        # The shares, their manifest and the state file appear together or not at all, so an
        # interrupted rekey always either resumes from its state or starts again in an empty
        # folder.
        manifest = manifest_path(output_dir, activation.config.hsm.name, epoch)
        with atomic_outputs([*files, manifest, output_dir / STATE_NAME]) as handles:
            for handle, share in zip(handles[:-2], shares, strict=True):
                handle.write(share.encode_text().encode() + b"\n")
            handles[-2].write(manifest_record(shares, files))
            handles[-1].write(state(set_id, files, digests))
        back_shares = [decode_share(p.read_bytes(), str(p)) for p in files]
        if [b.digest().hex() for b in back_shares] != digests:
            raise HsmError("the new share files read back differ from the shares written")
        with combine_shares(back_shares[:threshold]).secret as again:
            if not hmac.compare_digest(bytes(again.view()), bytes(secret.view())):
                raise HsmError("the new share files do not recombine to the new secret")
    return set_id, files, digests


def load_rekey_state(path: Path) -> RekeyResult:
    """Read ``rekey-state.json`` (what a resumed rekey continues from). Whatever the file
    holds, the only errors are one-line tcr-kit errors: unreadable is exit 1, anything but
    the state document this module writes is :class:`StateFileInvalid` (exit 2)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise StateFileInvalid(f"{path}: not a rekey state file (not JSON)") from None
    if (
        not isinstance(doc, dict)
        or doc.get("format") != "tcr-kit.hsm-rekey-state"
        or doc.get("version") != 1
    ):
        raise StateFileInvalid(f"{path}: not a rekey state file (version 1)")
    strings = ("old_set_id", "new_set_id", "new_share_set_id")
    numbers = ("old_epoch", "new_epoch", "threshold", "count")
    files, digests = doc.get("files"), doc.get("digests")
    if (
        any(not isinstance(doc.get(k), str) for k in strings)
        or any(type(doc.get(k)) is not int or doc[k] < 0 for k in numbers)
        or not isinstance(files, list)
        or not isinstance(digests, list)
        or not all(isinstance(x, str) and x and "\0" not in x for x in files)
        or not all(isinstance(x, str) for x in digests)
        or len(files) != len(digests)
        or len(files) != doc["count"]
        or not 1 <= doc["threshold"] <= doc["count"]
    ):
        raise StateFileInvalid(f"{path}: a field of the rekey state is missing or wrong")
    return RekeyResult(
        old=EpochRef(doc["old_set_id"], doc["old_epoch"]),
        new=EpochRef(doc["new_set_id"], doc["new_epoch"]),
        threshold=doc["threshold"],
        count=doc["count"],
        share_files=[Path(p) for p in files],
        share_digests=list(digests),
        new_share_set_id=doc["new_share_set_id"],
        resumed=True,
    )


def rekey(
    activation: Activation,
    sources: Iterable[Source] | Quorum | Callable[[], Quorum],
    *,
    threshold: int,
    count: int,
    output_dir: Path,
    new_share_set_id: str,
    confirm: Callable[[RekeyResult], bool] | None = None,
    after_step: Callable[[str], None] | None = None,
) -> RekeyResult:
    """Rekey the HSM of ``activation`` (see the module docstring).

    ``sources`` may be a callable returning the old quorum: a resumed rekey whose PIN
    already changed then never asks for the old shares. ``after_step`` is called with the
    name of each durable step as soon as it is done (``"state-written"``, ``"pin-changed"``,
    ``"marker-written"``, ``"ledger-updated"``): progress reporting, and the place where
    the tests interrupt a rekey to prove that a re-run completes it.
    """

    def done(step: str) -> None:
        if after_step is not None:
            after_step(step)

    def old_quorum() -> Quorum:
        nonlocal sources
        if callable(sources):
            sources = sources()
        quorum = activation.collect(sources)
        sources = quorum
        return quorum

    token = activation.token()
    marker = token.marker()
    if marker is None:
        raise HsmError(f"{token.describe()} has no activation marker; it cannot be rekeyed")
    state_path = output_dir / STATE_NAME
    resumed = state_path.exists()
    if resumed:
        result = load_rekey_state(state_path)
        if marker.current not in (result.old, result.new):
            raise SharesDoNotMatchHsm(
                f"{state_path} is for set {result.old.set_id} -> {result.new.set_id};"
                f" {token.describe()} is at set {marker.current.set_id}"
            )
        _check_resumed_as_begun(state_path, result, threshold, count, new_share_set_id)
        moved = marker.current == result.new or None
        _check_ledger_set(activation, result.new_share_set_id, result.new.epoch,
                          result.threshold, result.count, hsm_moved=moved,
                          native_set_id=result.new.set_id)  # fmt: skip
        result.steps.append(f"resumed from {state_path}; new shares reused")
    else:
        if not output_dir.is_dir():
            raise OperationalError(f"{output_dir}: no such directory")
        new_epoch = marker.current.epoch + 1
        _check_ledger_set(activation, new_share_set_id, new_epoch, threshold, count)
        old_quorum()  # check the old quorum before writing anything

        def state_doc(set_id: str, files: list[Path], digests: list[str]) -> bytes:
            doc = {
                "format": "tcr-kit.hsm-rekey-state", "version": 1,
                "old_set_id": marker.current.set_id, "old_epoch": marker.current.epoch,
                "new_set_id": set_id, "new_epoch": new_epoch, "threshold": threshold,
                "count": count, "files": [str(p) for p in files], "digests": digests,
                "new_share_set_id": new_share_set_id,
            }  # fmt: skip
            return json.dumps(doc, indent=2).encode() + b"\n"

        set_id, files, digests = _write_shares(
            activation, threshold, count, output_dir, new_epoch, state_doc
        )
        result = RekeyResult(
            old=marker.current,
            new=EpochRef(set_id, new_epoch),
            threshold=threshold,
            count=count,
            share_files=files,
            share_digests=digests,
            new_share_set_id=new_share_set_id,
        )
        result.steps.append(f"wrote and verified {count} new share files and {state_path}")
        done("state-written")

    if marker.current != result.new:
        if confirm is not None and not confirm(result):
            raise OperationalError(
                f"not confirmed: the HSM is unchanged; the new shares stay in {output_dir}"
            )
        with _new_pin(activation, result.share_files, result.threshold) as new_pin:
            changed = False
            if resumed:
                try:
                    with token.login(new_pin):
                        changed = True
                        result.steps.append("the HSM already accepts the new PIN")
                except SharesDoNotMatchHsm:
                    changed = False
            if not changed:
                with activation._derive(old_quorum()) as old_pin:
                    with token.login(old_pin, rw=True) as session:
                        session.set_pin(
                            bytes(old_pin.view()).decode("ascii"),
                            bytes(new_pin.view()).decode("ascii"),
                        )
                result.steps.append("changed the HSM user PIN to the one of the new shares")
                done("pin-changed")
            retired = (*(r for r in marker.retired if r != result.old), result.old)
            write_marker(
                token, new_pin, Marker(result.new, result.threshold, result.count, retired)
            )
            result.steps.append(f"activation marker: epoch {result.new.epoch}, old retired")
            done("marker-written")
    _ledger_step(activation, result)
    done("ledger-updated")
    activation._event(
        REKEY,
        None,
        f"rekeyed to epoch {result.new.epoch}",
        old=result.old,
        new=result.new,
        new_share_set=result.new_share_set_id,
        new_share_digests=tuple(result.share_digests),
        new_threshold=result.threshold,
        new_count=result.count,
    )
    state_path.unlink(missing_ok=True)
    return result


class ResumedOtherwise(InputError):
    """A re-run asks for another m, n or ledger id than the rekey it would resume (exit 2)."""


def _check_resumed_as_begun(
    state_path: Path, result: RekeyResult, threshold: int, count: int, share_set_id: str
) -> None:
    """A re-run finishes the rekey its state file describes, never another: asked for other
    values it is refused before anything is done, rather than silently making the shares
    and the ledger set the state names while the command line (a script read aloud) says
    otherwise. :class:`ResumedOtherwise`, exit 2."""
    begun = (result.threshold, result.count, result.new_share_set_id)
    if begun == (threshold, count, share_set_id):
        return
    raise ResumedOtherwise(
        f"{state_path} is a rekey to {begun[0]}-of-{begun[1]} named {begun[2]}; this run asks"
        f" for {threshold}-of-{count} named {share_set_id}: nothing done (re-run with the"
        " values it was begun with, or use another --output-dir)"
    )


def _check_ledger_set(
    activation: Activation,
    share_set_id: str,
    epoch: int,
    threshold: int,
    count: int,
    *,
    hsm_moved: bool | None = False,
    native_set_id: str | None = None,
) -> None:
    """Refuse a rekey whose new ledger id already names a set other than the one it makes.

    The ledger step keeps a set it finds under the new id (a re-run finishing a rekey whose
    ledger step was done, or a set registered beforehand for the new cards): that set must
    then be the rekey's, active, at ``epoch`` and ``threshold``-of-``count``, holding no
    manifest of shares other than the rekey's (``native_set_id``; ``None`` before the new
    shares exist, when any registered manifest is of other shares). Otherwise the
    HSM would move to shares the ledger describes otherwise, and ``tcr hsm config-rekey``
    would refuse to name that set with no supported way forward; so this is checked before
    a share is read or written or the HSM touched (:class:`WrongShareSet`, exit 3).
    ``hsm_moved`` says what the message may claim of the HSM: ``False``, unchanged (a new
    rekey); ``True``, already at the new epoch (a re-run after the marker was written);
    ``None``, not known (a re-run before it: the PIN may have changed)."""
    ledger = activation.ledger
    if ledger is None:
        return
    from tcr_kit.custody.ledger import NotFound

    try:
        found = ledger.share_set(share_set_id)
    except NotFound:
        return
    if hsm_moved is False:
        then = "refused, HSM unchanged (give another --new-set-id)"
    else:
        then = (
            "the HSM is already at epoch" if hsm_moved else "the HSM may already be at epoch"
        ) + f" {epoch}; refused before the ledger step (the ledger's set must be resolved first)"
    if (found.epoch, found.m, found.n, found.status) != (epoch, threshold, count, "active"):
        raise WrongShareSet(
            f"share set {share_set_id} is in the ledger as epoch {found.epoch},"
            f" {found.m}-of-{found.n} ({found.status}); this rekey makes epoch {epoch},"
            f" {threshold}-of-{count}: {then}"
        )
    for body in ledger.manifest_history(share_set_id):
        held = (body.get("payload") or {}).get("native_set_id")
        if held != native_set_id:
            raise WrongShareSet(
                f"share set {share_set_id} holds the manifest of native set {held} (audit event"
                f" {body.get('seq')}); this rekey's shares are "
                + (f"native set {native_set_id}" if native_set_id else "new ones")
                + f": {then}"
            )


def _ledger_step(activation: Activation, result: RekeyResult) -> None:
    ledger, actor = activation.ledger, activation.actor
    if ledger is None or actor is None:
        return
    from tcr_kit.custody.ledger import NotFound
    from tcr_kit.custody.models import ShareSet, build

    cfg = activation.config.share_set
    try:
        ledger.share_set(result.new_share_set_id)
    except NotFound:
        ledger.add_share_set(
            actor,
            build(
                ShareSet,
                id=result.new_share_set_id,
                m=result.threshold,
                n=result.count,
                purpose=f"activation of HSM {activation.config.hsm.name}",
                epoch=result.new.epoch,
            ),
        )
        result.steps.append(f"ledger: share set {result.new_share_set_id} added")
    try:
        old = ledger.share_set(cfg.id)
    except NotFound:
        return
    if old.status == "active" and cfg.id != result.new_share_set_id:
        ledger.retire_share_set(actor, cfg.id)
        result.steps.append(f"ledger: share set {cfg.id} retired")
