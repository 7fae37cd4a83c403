"""Options and helpers shared by the custody, roster, remote and audit commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._cosign import cosign_options as cosign_options  # re-exported: commands import it here
from ._cosign import open_card_signer as open_card_signer
from ._cosign import use_cosigners, write_signing_requests
from ._output import one_line, say
from .app import TerminalProgress, counted, emit_json, json_mode, progress, progress_bar

if TYPE_CHECKING:
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.custody.models import Location
    from tcr_kit.secrets import SecretBuffer

F = TypeVar("F", bound=Callable[..., Any])


def ledger_option(f: F) -> F:
    return click.option(
        "--ledger",
        "ledger_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Ledger file (default: $TCR_LEDGER, else $XDG_DATA_HOME/tcr-kit/ledger.sqlite).",
    )(f)


_CEREMONY = "tcr_kit.ceremony"
"""Key in ``ctx.meta`` (shared by the command's contexts) of the ``--ceremony`` number."""


def _set_ceremony(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    ctx.meta[_CEREMONY] = value


def _ceremony() -> int | None:
    ctx = click.get_current_context(silent=True)
    value = ctx.meta.get(_CEREMONY) if ctx is not None else None
    return value if isinstance(value, int) else None


def actor_options(f: F) -> F:
    f = click.option(
        "--ceremony",
        type=click.IntRange(min=1),
        envvar="TCR_CEREMONY",
        expose_value=False,
        callback=_set_ceremony,
        help="Tag this change with a ceremony number. Env: TCR_CEREMONY.",
    )(f)
    return who_options(f)


def who_options(f: F) -> F:
    """``--as ID --key FILE``: who signs the change (without the ``--ceremony`` tag)."""
    f = click.option(
        "--key",
        "key_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        envvar="TCR_KEY",
        required=True,
        help="Your Ed25519 key file (0600). Env: TCR_KEY (a path, never the key).",
    )(f)
    return click.option(
        "--as", "actor_id", envvar="TCR_AS", required=True, help="Your roster id. Env: TCR_AS."
    )(f)


def dry_run_option(f: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Show what would be recorded; change nothing."
    )(f)


@contextmanager
def open_ledger(
    path: Path | None, *, create: bool = False, read_only: bool = False
) -> Iterator[Ledger]:
    """Open the ledger for one command; SQLite failures become one-line tcr-kit errors.
    ``read_only``: SQLite ``mode=ro``, nothing written, a schema-less file refused."""
    import sqlite3

    from tcr_kit.custody.ledger import Ledger, sqlite_error

    led = Ledger.open(path, create=create, read_only=read_only)
    before = None
    try:
        with ExitStack() as stack:
            # After 'tcr ceremony open', changes are tagged without repeating --ceremony.
            led.use_ceremony(_ceremony())
            use_cosigners(led, stack)
            before = None if read_only else led.audit.head()[0]
            yield led
    except sqlite3.Error as exc:
        raise sqlite_error(led.path, exc) from None
    finally:
        try:
            changed = before is not None and led.audit.head()[0] > before
        except sqlite3.Error:  # the command's own error (if any) is the one to report
            changed = False
        try:
            if changed:
                _auto_publish(led)
        finally:
            led.close()


def _auto_publish(led: Ledger) -> None:
    """After a command committed changes: publish them if the ledger's auto-publish setting
    is on (``tcr report auto-publish``). The changes are already committed; a failed
    publication is one warning line and never changes the command's exit code."""
    from tcr_kit.report.autopublish import auto_publish

    done = auto_publish(led)
    setting = done.setting
    if setting is None or not setting.enabled:
        return
    if done.error is not None:
        say(
            f"warning: the change is recorded, but publishing it to {setting.output_dir} "
            f"failed: {done.error}; run 'tcr report publish' to catch the site up",
            err=True,
        )
    elif done.result is not None and done.result.published:
        published = counted(done.result.published, "event")
        progress(f"auto-published {published} to {setting.output_dir}")


def read_passphrase(prompt: str, *, confirm: bool = False) -> SecretBuffer:
    """Hidden prompt on a terminal; one line from stdin otherwise (two with ``confirm``).
    Never argv or env. Read by :func:`tcr_kit.secretio.read_secret`, the one secret reader;
    the caller wipes the returned buffer."""
    from tcr_kit import secretio

    def hidden(text: str, again: bool) -> str:
        # click returns a str, which cannot be wiped; secretio copies it into a buffer at once.
        asked = one_line(text)
        return str(click.prompt(asked, hide_input=True, confirmation_prompt=again, err=True))

    stream = None if sys.stdin.isatty() else sys.stdin.buffer
    return secretio.read_secret(
        prompt, stream=stream, prompt=hidden, confirm=confirm, kind="passphrase"
    )


def read_new_passphrase(prompt: str) -> SecretBuffer:
    """A new passphrase, typed twice: hidden prompts on a terminal, two lines from stdin
    otherwise. Refuses an empty passphrase or a confirmation that differs (exit 2)."""
    import hmac

    from tcr_kit.errors import InputError
    from tcr_kit.secrets import SecretBuffer

    if sys.stdin.isatty():
        first = read_passphrase(prompt, confirm=True)
        second = None
    else:
        first = SecretBuffer(bytearray(sys.stdin.readline().rstrip("\r\n"), "utf-8"))
        second = SecretBuffer(bytearray(sys.stdin.readline().rstrip("\r\n"), "utf-8"))
    try:
        if not first.raw:
            raise InputError("the passphrase is empty: refusing to write an unprotected key")
        if second is not None and not hmac.compare_digest(second.raw, first.raw):
            what = "no confirmation line" if not second.raw else "the confirmation differs"
            raise InputError(
                f"passphrase not confirmed ({what}): give it twice, one line each on stdin"
            )
    except BaseException:
        first.wipe()
        raise
    finally:
        if second is not None:
            second.wipe()
    return first


def load_signer(key_file: Path) -> SoftwareEd25519Signer:
    """Load a software key; a passphrase (if the file is encrypted) is wiped after use."""
    from tcr_kit.audit.signing import SoftwareEd25519Signer

    if not SoftwareEd25519Signer.is_encrypted(key_file):
        return SoftwareEd25519Signer.load(key_file)
    with read_passphrase(f"Passphrase for {key_file}") as passphrase:
        return SoftwareEd25519Signer.load(key_file, passphrase.raw)


def actor(actor_id: str, key_file: Path) -> Actor:
    from tcr_kit.custody.ledger import Actor

    return Actor(actor_id, load_signer(key_file))


def report_change(ledger: Ledger, summary: str, dry_run: bool, data: dict[str, Any]) -> None:
    """Print what was (or would be) recorded, with the audit events' hashes (and the
    signing requests written for co-signers, with ``--signing-request``)."""
    events = ledger.last_change()
    requests = write_signing_requests(ledger, dry_run)
    if json_mode():
        extra = {"signing_requests": requests} if requests else {}
        emit_json(
            {
                "ok": True,
                "dry_run": dry_run,
                "summary": summary,
                "events": [e.to_json() for e in events],
                **data,
                **extra,
            }
        )
        return
    prefix = "dry run: would record" if dry_run else "recorded"
    say(f"{prefix}: {summary}")
    for e in events:
        say(f"  audit event {e.seq} {e.kind} sha256 {e.hash}")
    for r in requests:
        say(f"  signing request for {r['person']}: {r['file']}")
        say(f"    event sha256 {r['sha256']}")
        say(f"    PGP words: {r['words']}")
    if dry_run:
        say("dry run: nothing was changed")


def progress_callback(label: str = "verifying signatures") -> Callable[[int, int], None] | None:
    """A progress bar of signature checks on a terminal (:func:`app.progress_bar`: none in
    a pipe, with --json or -q, nor for a check that ends within a second)."""
    bar = progress_bar(label, 1, unit="signatures")
    return bar.update if isinstance(bar, TerminalProgress) else None


def split_ids(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def location(
    facility: str | None, safe: str | None, box: str | None, person: str | None
) -> Location:
    from tcr_kit.custody.models import Location

    where = Location.where(facility=facility, safe=safe, box=box, person=person)
    if where is None:
        raise click.UsageError("say where: --facility (and --safe/--box) or --with PERSON")
    return where


def location_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--facility`` (``--safe``, ``--box``) or ``--with PERSON``, handed to the command as
    one ``where`` (a :class:`Location`) before its body runs; none of them is exit 2."""

    @functools.wraps(f)
    def command(
        *args: Any,
        facility: str | None,
        safe: str | None,
        box: str | None,
        with_person: str | None,
        **kwargs: Any,
    ) -> Any:
        return f(*args, where=location(facility, safe, box, with_person), **kwargs)

    decorated: Callable[..., Any] = command
    for opt in (
        click.option("--with", "with_person", help="Held by this person."),
        click.option("--box", help="Safe-deposit box."),
        click.option("--safe", help="Safe at the facility."),
        click.option("--facility", help="Facility (e.g. east, west)."),
    ):
        decorated = opt(decorated)
    return decorated
