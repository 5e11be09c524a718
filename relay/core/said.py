"""Words for people in both languages relay speaks.

A :class:`Said` is a ``str``: its English text, which logs, the CLI and the API show as
they always did. It also carries the same sentence in Chinese, for the console in zh-CN.
Config warnings are made of them, so a warning written once reads in the operator's
language wherever it is shown.
"""

from __future__ import annotations


class Said(str):
    """English as the string, Chinese in ``zh``."""

    zh: str

    def __new__(cls, en: str, zh: str) -> Said:
        said = super().__new__(cls, en)
        said.zh = zh
        return said

    def __reduce__(self) -> tuple[type[Said], tuple[str, str]]:  # copies and pickles keep both
        return (Said, (str(self), self.zh))


def said_in(text: str, lang: str) -> str:
    """``text`` in ``lang``: the Chinese of a :class:`Said` in zh-CN, else the text."""
    if lang == "zh-CN" and isinstance(text, Said):
        return text.zh
    return str(text)


def placed(place: str, message: str) -> Said:
    """'place: message', in both languages (the place is a config path, the same in both)."""
    zh = message.zh if isinstance(message, Said) else str(message)
    return Said(f"{place}: {message}", f"{place}：{zh}")
