"""Data formats (``data.format.kind``): one small reader module each, all filling the same
:class:`audit.formats.interface.ChunkScan` with bounded memory; :mod:`audit.formats.registry` says
which reads which, :mod:`audit.formats.discover` what ``init`` recognises as data."""
