"""Reading the operator's files (the config, ``*_file`` secrets, templates) with bounds:
at most a size, as UTF-8, and a problem an operator can act on otherwise.

A config that points ``bearer_token_file`` at ``/dev/zero`` must not fill the memory, and
a config saved as GBK (a Chinese comment in a Windows editor) or UTF-16 must say so and
where, not end in a traceback.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

#: The config file: far above any real one (the biggest examples are ~10 KB).
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: A ``*_file`` secret: a token, a password, a key.
MAX_SECRET_BYTES = 64 * 1024
#: One template file.
MAX_TEMPLATE_BYTES = 1024 * 1024

_BOMS = [
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
]


class FileProblem(ValueError):
    """A file that cannot be used; the message says why and what to do."""


def read_text(path: str | os.PathLike[str], limit: int, what: str = "") -> str:
    """The file's text, decoded as UTF-8 (a UTF-8 BOM is dropped). Raises FileProblem when
    it cannot be read, holds more than ``limit`` bytes (only ``limit + 1`` are read, so
    a device that never ends costs nothing) or is not UTF-8 (the line and column of the
    first bad byte)."""
    name = f"{what} {path}" if what else str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise FileProblem(f"cannot read {name}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise FileProblem(f"{name} is larger than {limit} bytes")
    return decode_utf8(data, name)


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text, or FileProblem naming ``name`` and where it stops being UTF-8."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise FileProblem(f"{name} is saved as {encoding}: save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise FileProblem(
            f"{name}:{line}:{column}: not UTF-8 (byte 0x{data[exc.start]:02x}): save the file as"
            " UTF-8 (a comment written in another encoding, such as GBK, does this)"
        ) from None
