"""The one TOML file: its schema as data (``schema``, with the kinds of value in ``leaves``),
reading files safely (``files``), validating into a frozen ``Config`` record (``load``, the
cross-key rules in ``rules``, ``record``), and the cache that spares the every-second check
from parsing an unchanged file (``cache``).

Nothing here talks to Redis or Sentinel. Kept import-free: the check imports ``cache``
only, never the validator.
"""
