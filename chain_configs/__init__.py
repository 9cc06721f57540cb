"""Bundled network files: one TOML per network (installed as the package ``chains.configs``)."""
