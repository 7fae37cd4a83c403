"""Keep pycryptodome on its ctypes back-end, as it was before cffi came with PyNaCl.

pycryptodome binds its C code with cffi when ``import cffi`` succeeds, else with ctypes. In
cffi's in-line mode every one of its native modules has its C declarations parsed by
pycparser when it is loaded, which made ``from Crypto.Signature import eddsa`` (software keys,
key checks) two to three times slower to import once PyNaCl and pyca/cryptography brought cffi
into the environment: about 0.13 s more per process here, which is start-up of ``tcr status``
and of every process that loads a key. Both back-ends are supported by pycryptodome and give
the same results; ctypes is what tcr-kit ran on until then.

:func:`install` puts a finder first on ``sys.meta_path`` that acts only on
``Crypto.Util._raw_api`` (pycryptodome's back-end chooser): while that one module executes,
``cffi`` is unimportable, so it picks ctypes. Nothing else changes: PyNaCl's and
cryptography's compiled modules do not import the ``cffi`` package, and ``cffi`` imports
normally before and after. ``TCR_PYCRYPTODOME_CFFI=1`` leaves pycryptodome's choice alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

TARGET = "Crypto.Util._raw_api"
_MISSING = object()


class _CtypesBackend:
    """A meta-path finder for :data:`TARGET` only; every other name goes to the next finder."""

    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != TARGET:
            return None
        spec = PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_without_cffi(module: ModuleType) -> None:
            saved = sys.modules.get("cffi", _MISSING)
            sys.modules["cffi"] = None  # type: ignore[assignment]  # "import cffi" fails
            try:
                exec_module(module)
            finally:
                if saved is _MISSING:
                    sys.modules.pop("cffi", None)
                else:
                    sys.modules["cffi"] = saved  # type: ignore[assignment]

        spec.loader.exec_module = exec_without_cffi  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Add the finder once (before pycryptodome is first imported for it to matter)."""
    if os.environ.get("TCR_PYCRYPTODOME_CFFI", "") not in {"", "0"}:
        return
    if not any(finder is _CtypesBackend for finder in sys.meta_path):
        sys.meta_path.insert(0, _CtypesBackend)
