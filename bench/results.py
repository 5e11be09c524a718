"""docs/benchmarks.md, where every benchmark writes its section."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(section: str, text: str) -> None:
    """Replace the section headed ``section`` with ``text`` (which starts with that
    heading), or add it before History; the rest of the file stays."""
    existing = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    if section in existing:
        before, rest = existing.split(section, 1)
        nxt = rest.find("\n## ")
        after = rest[nxt + 1 :] if nxt != -1 else ""
        RESULTS.write_text(before + text + ("\n" + after if after else ""), encoding="utf-8")
        return
    marker = "## History"
    if marker in existing:
        before, after = existing.split(marker, 1)
        RESULTS.write_text(before + text + "\n" + marker + after, encoding="utf-8")
    else:
        RESULTS.write_text(existing.rstrip("\n") + "\n\n" + text, encoding="utf-8")
