"""tcr-kit: threshold credential management for high-assurance key ceremonies.

The library never prompts, never prints and never imports the CLI. Heavy modules (numpy,
pkcs11, pyscard) are imported lazily by the code that needs them so that ``tcr --help``
starts fast.
"""

__version__ = "0.1.0"

from tcr_kit import _pycryptodome

_pycryptodome.install()  # pycryptodome on ctypes, as before cffi was installed: see there
