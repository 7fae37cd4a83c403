"""tcr-kit: threshold credential management for high-assurance key ceremonies.

The library never prompts, never prints and never imports the CLI. Heavy modules (numpy,
pkcs11, pyscard) are imported lazily by the code that needs them so that ``tcr --help``
starts fast.
"""

__version__ = "0.1.0"

import os

# No pydantic plugins, ever: pydantic would otherwise import every ``pydantic`` entry point
# of every installed distribution the first time a model is built (third-party code running
# inside a key ceremony, and a scan of all installed metadata at start-up). Set here, before
# any tcr_kit module defines a model; pydantic reads it when it first builds a validator.
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"

from tcr_kit import _pycryptodome

_pycryptodome.install()  # pycryptodome on ctypes, as before cffi was installed: see there
