"""Tools built on the library: ``advantage bench`` and the standard suite."""
