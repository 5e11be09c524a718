"""Files shipped inside the package: the built-in templates and the default and example
configs.

They are read through importlib.resources as Traversables, never turned into paths with
``str()``: in a wheel the template directory is a namespace package, whose
``resources.files()`` is a MultiplexedPath (its text is not a path), and a zipped install
has no paths at all. An editable checkout maps the same names to templates/ and config/.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

PACKAGED_DEFAULT_SOURCE = "<relay's packaged default config>"
TEMPLATES = "relay.builtin_templates"  # templates/ in the checkout
DEFAULTS = "relay.defaults"  # config/ in the checkout
DEFAULT_CONFIG = "relay.yml"


def packaged(package: str, relative: str = "") -> Traversable:
    """``relative`` ('en/log.txt.j2') inside ``package``, one part at a time (a
    MultiplexedPath joins a single name per call)."""
    node = resources.files(package)
    for part in relative.split("/"):
        if part:
            node = node.joinpath(part)
    return node


def default_config_text() -> str:
    """The embedded default config (config/relay.yml): the log receiver, SQLite under ./data."""
    return packaged(DEFAULTS, DEFAULT_CONFIG).read_text(encoding="utf-8")


def example_names() -> list[str]:
    """The example configs shipped with relay (config/examples/<name>.yml), by name."""
    return sorted(
        entry.name.removesuffix(".yml")
        for entry in packaged(DEFAULTS, "examples").iterdir()
        if entry.name.endswith(".yml")
    )


def example_config_text(name: str) -> str:
    return packaged(DEFAULTS, f"examples/{name}.yml").read_text(encoding="utf-8")
