"""The local activation log: where ``tcr hsm activate --no-ledger`` records its events.

Every activation attempt is promised to be recorded. Without a ledger (no ``--as/--key``)
that needs an explicit ``--no-ledger``, and then each event is appended, as one JSON line,
to a local append-only file: ``$TCR_ACTIVATION_LOG``, else
``$XDG_STATE_HOME/tcr-kit/activations.log``, else ``~/.local/state/tcr-kit/activations.log``.
The file is opened ``O_APPEND`` (0600, created if absent) and each line is synced before
the activation goes on; a line that cannot be written stops the activation (exit 1). The
lines are not signed: this is a local record, not the audit log. Each line is
``{"kind": ..., "subjects": [...], "payload": {...}}`` with the payload the ledger would
have held (never a secret or a PIN).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from tcr_kit.errors import OperationalError
from tcr_kit.hsm.events import ActivationEvent

__all__ = ["ACTIVATION_LOG_ENV", "LocalActivationLog", "default_activation_log"]

ACTIVATION_LOG_ENV = "TCR_ACTIVATION_LOG"


def default_activation_log(env: Mapping[str, str] | None = None) -> Path:
    """``$TCR_ACTIVATION_LOG``, else ``$XDG_STATE_HOME/tcr-kit/activations.log``, else
    ``~/.local/state/tcr-kit/activations.log``."""
    env = os.environ if env is None else env
    if env.get(ACTIVATION_LOG_ENV):
        return Path(env[ACTIVATION_LOG_ENV])
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tcr-kit" / "activations.log"


class LocalActivationLog:
    """An append-only JSON-lines file of activation events; use as ``on_event``."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_activation_log()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            raise OperationalError(
                f"{self.path}: cannot open the local activation log: {exc.strerror}"
            ) from None

    def __call__(self, event: ActivationEvent) -> None:
        line = json.dumps(
            {"kind": event.kind, "subjects": event.subjects, "payload": event.payload()},
            sort_keys=True,
            separators=(",", ":"),
        )
        data = (line + "\n").encode("utf-8")
        try:
            written = os.write(self._fd, data)  # one write: O_APPEND keeps lines whole
            if written != len(data):
                raise OSError(28, "short write")
            os.fsync(self._fd)
        except OSError as exc:
            raise OperationalError(
                f"{self.path}: cannot append to the local activation log: {exc.strerror}"
            ) from None

    def close(self) -> None:
        os.close(self._fd)
