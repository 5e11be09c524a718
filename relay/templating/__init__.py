"""Sandboxed Jinja2 rendering of notifications and digests, and the built-in samples."""
