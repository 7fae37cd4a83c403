"""Garbage collection in a ``tcr`` process: deferred while its command loads.

A ``tcr`` process runs one command and exits; :func:`defer_collection` (called by the console
entry point only) and :func:`resume_collection_when_invoked` (applied by the lazy groups to
what they load) keep the collector from walking start-up's objects again and again.
"""

from __future__ import annotations

from typing import Any

import click

__all__ = ["defer_collection", "resume_collection_when_invoked"]


class _Collection:
    """Whether this process deferred garbage collection until its command was loaded
    (:func:`defer_collection`); process-wide, like the collector itself."""

    deferred = False


def defer_collection() -> None:
    """For a ``tcr`` process, which runs one command and exits: no garbage collection while
    the command and its modules are imported, and none over what was loaded at exit.

    Importing creates hundreds of thousands of objects and no garbage to speak of, yet
    triggers collection after collection; and the interpreter's teardown collects again
    over everything. When the command is invoked (its modules imported, its arguments parsed)
    what exists is frozen (kept out of later collections: it lives until exit anyway) and
    collection resumes for the command's own work. Measured with callgrind on a combine of small
    shares: 7 % fewer instructions (docs/performance.md). Only the process entry point
    calls this, never a caller running commands in its own process (tests), whose frozen
    objects would never be freed. Secrets do not depend on a collection: they are wiped
    where they are used (``SecretBuffer`` as a context manager); its ``__del__`` is a
    safety net that CPython does not promise to run at exit in any case."""
    import atexit
    import gc

    gc.disable()
    atexit.register(gc.freeze)
    _Collection.deferred = True


def _resume_collection() -> None:
    """Resume collection once the command is loaded (see :func:`defer_collection`)."""
    if _Collection.deferred:
        import gc

        _Collection.deferred = False
        gc.freeze()
        gc.enable()


def resume_collection_when_invoked(cmd: click.Command) -> None:
    """Make every command of ``cmd`` resume collection as it is invoked: by then its
    modules are imported and its arguments parsed (a lazy group's own lazy commands get
    this when :meth:`~tcr_cli.app.LazyGroup.get_command` loads them). Nothing to do
    once collection runs (or in a process that never deferred it)."""
    if not _Collection.deferred:
        return
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            resume_collection_when_invoked(sub)
        return
    invoke = cmd.invoke

    def resume_then_invoke(ctx: click.Context) -> Any:
        _resume_collection()
        return invoke(ctx)

    cmd.invoke = resume_then_invoke  # type: ignore[method-assign]
