"""The ``tcr`` command: parse, call the library, print. Nothing else lives here."""
