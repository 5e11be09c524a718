"""Which packages the wheel carries: every folder under relay/ (code, the console's page
templates and static files), plus the built-in templates and configs mapped in from the
top-level templates/ and config/ folders (see pyproject.toml's package-dir)."""

from setuptools import find_namespace_packages, setup

CODE = find_namespace_packages(include=["relay", "relay.*"], exclude=["*.__pycache__"])
DATA = ["relay.builtin_templates", "relay.builtin_templates.en", "relay.defaults", "relay.defaults.examples"]

setup(packages=[*CODE, *DATA])
