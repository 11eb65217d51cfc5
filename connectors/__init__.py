"""Connectors: everything that talks to the outside world (HTTP) or parses what it returns."""
