"""Hand the HSM user PIN to another program through an inherited pipe.

The parent rebuilds the secret from the quorum, derives the PIN (checked by one login and
logout), writes it, one line, into a pipe and runs the command with the pipe's read end
inherited; ``$TCR_PIN_FD`` names that descriptor. ``$TCR_HSM_MODULE``,
``$TCR_HSM_TOKEN_LABEL`` or ``$TCR_HSM_TOKEN_SERIAL`` and the configuration's ``[hsm.env]``
are set too. The PIN is never in argv, the environment, a file or a log.

**Only the immediate child gets the PIN.** A descriptor cannot be "inherited once": the
close-on-exec flag is per descriptor, so whatever the child starts inherits it unless the
child closes it. So the mechanism is a drained pipe: tcr writes the whole PIN line and
closes the write end *before* starting the child, hands the read end to the child only
(``pass_fds``; tcr's own copy is closed the moment the child is started), and the child
must read the line at start. Once read, the pipe is empty and at end-of-file: a program
the child starts later reads nothing even if it inherited the descriptor, and
:func:`receive_pin` also closes the descriptor and drops ``$TCR_PIN_FD`` so it inherits
neither. A child that starts other programs *before* reading (a shell wrapper) hands them
the PIN: read first, or ``exec`` the reader.

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
            proc = subprocess.Popen(list(command), pass_fds=(read_fd,), env=env)
        except OSError as exc:
            raise OperationalError(f"{command[0]}: cannot run: {exc.strerror}") from None
    finally:
        os.close(read_fd)  # only the child holds it now: nothing else tcr starts gets it
    return proc.wait()


def receive_pin(environ: Mapping[str, str] | None = None) -> SecretBuffer:
    """In the child: the PIN from the descriptor in ``$TCR_PIN_FD`` (one line, without its
    line end), in a buffer the caller wipes. The descriptor is closed, and (when reading
    this process's own environment) ``$TCR_PIN_FD`` is removed from it, so programs the
    child starts afterwards inherit neither. Call it before starting any other program."""
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
        if environ is None:
            os.environ.pop(PIN_FD_ENV, None)
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
