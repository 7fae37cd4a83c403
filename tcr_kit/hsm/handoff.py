"""Hand the HSM user PIN to another program through an inherited pipe.

The parent rebuilds the secret from the quorum, derives the PIN (checked by one login and
logout), writes it, one line, into a pipe and runs the command with the pipe's read end
inherited; ``$TCR_PIN_FD`` names that descriptor. ``$TCR_HSM_MODULE``,
``$TCR_HSM_TOKEN_LABEL`` or ``$TCR_HSM_TOKEN_SERIAL`` and the configuration's ``[hsm.env]``
are set too. The PIN is never in argv, the environment, a file or a log.

The child (a signer written in Python) reads it with :func:`receive_pin`::

    from tcr_kit.hsm import receive_pin

    with receive_pin() as pin:
        session = token.open(user_pin=bytes(pin.view()).decode("ascii"))
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from tcr_kit.errors import InputError, OperationalError
from tcr_kit.hsm.config import HsmSection
from tcr_kit.secrets import SecretBuffer, wipe

if TYPE_CHECKING:
    from tcr_kit.hsm.activation import Activation, Quorum, Source

PIN_FD_ENV = "TCR_PIN_FD"
"""Environment variable naming the inherited descriptor that carries the HSM user PIN."""
MAX_PIN_LINE = 256
"""Longest PIN line :func:`receive_pin` reads (derived PINs are at most 64 characters)."""


def child_environment(
    section: HsmSection, pin_fd: int, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of the child: ``base`` (default: this process's), the module's
    ``[hsm.env]``, ``$TCR_PIN_FD`` and the HSM's module and token. Never the PIN."""
    env = dict(os.environ if base is None else base)
    env.update(section.env)
    env[PIN_FD_ENV] = str(pin_fd)
    env["TCR_HSM_MODULE"] = section.module
    if section.token_label:
        env["TCR_HSM_TOKEN_LABEL"] = section.token_label
    if section.token_serial:
        env["TCR_HSM_TOKEN_SERIAL"] = section.token_serial
    return env


def run_with_pin(
    activation: Activation, sources: Iterable[Source] | Quorum, command: Sequence[str]
) -> int:
    """Run ``command`` with the HSM user PIN on an inherited pipe; its exit status.

    The PIN comes from :meth:`Activation.user_pin` (audited as ``pin handed off``) and is
    wiped once written; the pipe holds it until the child reads it.
    """
    if not command:
        raise ValueError("no command to run")
    with activation.user_pin(sources) as pin:  # wiped on leaving the block
        read_fd, write_fd = os.pipe()
        try:
            os.write(write_fd, pin.view())
            os.write(write_fd, b"\n")
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
    try:
        env = child_environment(activation.config.hsm, read_fd)
        try:
            proc = subprocess.run(list(command), pass_fds=(read_fd,), env=env, check=False)
        except OSError as exc:
            raise OperationalError(f"{command[0]}: cannot run: {exc.strerror}") from None
        return proc.returncode
    finally:
        os.close(read_fd)


def receive_pin(environ: Mapping[str, str] | None = None) -> SecretBuffer:
    """In the child: the PIN from the descriptor in ``$TCR_PIN_FD`` (one line, without its
    line end), in a buffer the caller wipes. The descriptor is closed."""
    value = (os.environ if environ is None else environ).get(PIN_FD_ENV)
    if value is None or not value.isdigit():
        raise InputError(f"${PIN_FD_ENV} is not set: run this under 'tcr hsm activate -- CMD'")
    fd = int(value)
    raw = bytearray(MAX_PIN_LINE + 1)
    n = 0
    try:
        with memoryview(raw) as view:
            while n < len(raw) and raw.find(b"\n", 0, n) < 0:
                got = os.readv(fd, [view[n:]])
                if got == 0:
                    break
                n += got
    except OSError as exc:
        wipe(raw)
        raise OperationalError(f"${PIN_FD_ENV} ({fd}): cannot read: {exc.strerror}") from None
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    end = raw.find(b"\n", 0, n)
    if end < 0 and n > MAX_PIN_LINE:
        wipe(raw)
        raise InputError(f"${PIN_FD_ENV}: the PIN line is longer than {MAX_PIN_LINE} bytes")
    length = n if end < 0 else end
    if length and raw[length - 1] == 0x0D:
        length -= 1
    with memoryview(raw) as view:
        pin = SecretBuffer(view[:length])  # the one copy; the read buffer is wiped
    wipe(raw)
    return pin
