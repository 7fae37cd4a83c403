"""Text from outside (file names, labels, person ids, reasons a log or a card spells) as the
CLI prints it: on one line, with no character a terminal would act on.

A share label, a file name or a person id is whatever the file, ledger, card or log says;
printed as it is, a line break in it would print a second line under an error or a warning
(``ok: the audit log verified``), and an ESC sequence would move the cursor, recolour or
erase what the operator reads aloud. Every error and warning line and every cell of a human
table goes through :func:`one_line`; ``--json`` output needs nothing more than JSON's own
escaping.
"""

from __future__ import annotations

from collections.abc import Iterable

import click

__all__ = ["one_line", "say", "say_lines"]

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
"""Control characters (C0, DEL, C1: line breaks, ESC, NEL), lone surrogates (a file name
that is not UTF-8), and the Unicode line and paragraph separators."""
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional embeddings, overrides and isolates: they reorder what follows on the line,
so a name could show another name's letters or hide a word."""


def one_line(text: str) -> str:
    """``text`` with each control character (a line break, a terminal escape, a lone
    surrogate, a bidirectional override) written as its Python escape (``\\n``,
    ``\\x1b``, ``\\u202e``); every printable character, UTF-8 labels included, as it is."""
    if text.isprintable():  # the common case: nothing to look up
        return text
    import unicodedata

    return "".join(
        repr(c)[1:-1]
        if c in _BIDI_CONTROLS or unicodedata.category(c) in _ESCAPED_CATEGORIES
        else c
        for c in text
    )


def say(line: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print one line for people (stdout, or stderr with ``err``), escaped by
    :func:`one_line`: a name it holds cannot add a line or act on the terminal."""
    click.echo(one_line(line), err=err, nl=nl)


def say_lines(lines: Iterable[str], *, err: bool = False) -> None:
    """Print each of ``lines`` as one line (:func:`say`): a report a library function
    describes line by line (``describe()``), or a file's text split at its line ends."""
    for line in lines:
        say(line, err=err)
