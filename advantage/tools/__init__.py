"""Tools built on the library: ``advantage bench`` and the standard suite, policy export, the docs' generated pages."""
