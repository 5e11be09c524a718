"""The built-in templates, installed as the package relay.builtin_templates (package data)."""
