"""The shape of relay: no import cycle, imports only go down the layers, and
docs/architecture.md names every module."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.helpers.imports import find_cycle, import_graph, module_names, upward_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "relay"

#: Lowest first. A module may import its own folder and any folder of a lower layer;
#: folders of one layer do not import each other. docs/architecture.md draws the same.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("",),  # relay/__init__.py: the version
    ("core",),
    ("obs",),
    ("templating",),
    ("channels",),
    ("config",),
    ("store", "clients"),
    ("pipeline",),
    ("web",),
    ("cli",),
    ("__main__",),
)


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_only_go_down_the_layers() -> None:
    wrong = upward_imports(import_graph(PACKAGE), LAYERS)
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "pkg"


def test_a_cycle_hidden_in_a_function_or_type_checking_is_found(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.web.b import B\n",
        "web/__init__.py": "",
        "web/b.py": "def f():\n    from pkg.web import c\n",
        "web/c.py": "from ..core import a\n",
    })  # fmt: skip
    graph = import_graph(root)
    assert find_cycle(graph) == ["pkg.core.a", "pkg.web.b", "pkg.web.c", "pkg.core.a"]
    wrong = upward_imports(graph, (("",), ("core",), ("web",)))
    assert wrong == [
        "pkg.core.a (layer 1: core) imports pkg.web (layer 2: web)",
        "pkg.core.a (layer 1: core) imports pkg.web.b (layer 2: web)",
    ]


def test_an_import_sideways_within_a_layer_is_reported(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "", "store/__init__.py": "", "clients/__init__.py": "",
        "store/s.py": "import pkg.clients\n",
    })  # fmt: skip
    graph = import_graph(root)
    assert find_cycle(graph) is None
    assert upward_imports(graph, (("",), ("store", "clients"))) == [
        "pkg.store.s (layer 1: store) imports pkg.clients (layer 1: clients)"
    ]


def test_every_module_has_a_row_in_docs_architecture() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(relay/[\w/]+\.py)` \|", text, re.M))
    files = {str(p.relative_to(ROOT)) for p in module_names(PACKAGE).values()}
    assert not files - rows, f"modules missing from docs/architecture.md: {sorted(files - rows)}"
    assert not rows - files, f"docs/architecture.md names modules that do not exist: {sorted(rows - files)}"


@pytest.mark.parametrize("layer", [u for units in LAYERS for u in units if u not in ("", "__main__")])
def test_every_layer_is_a_folder_with_its_purpose(layer: str) -> None:
    init = PACKAGE / layer / "__init__.py"
    assert init.is_file()
    assert init.read_text(encoding="utf-8").startswith('"""'), f"{init}: say what the folder is for"
