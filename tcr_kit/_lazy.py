"""Public names of a package loaded on first use (PEP 562), so that importing the package
costs only the modules a command really touches (issue 14's start-up budget).

A package maps each public name to the module that defines it and installs the two hooks
this returns as its ``__getattr__`` and ``__dir__``; type checkers see the package's
``if TYPE_CHECKING:`` imports instead.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_names(
    package: str, module_of: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: a name of ``module_of`` is imported
    from its module on first access and kept in the package (later lookups skip the hook)."""
    namespace = sys.modules[package].__dict__
    names = frozenset(public)

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | names)

    return __getattr__, __dir__
