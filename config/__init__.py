"""The default and example configs, installed as the package relay.defaults (package data)."""
