"""Secrets in config: ``SecretStr`` fields with ``*_file`` twins, and redaction for output."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator


class StrictModel(BaseModel):
    """Config sections reject unknown keys, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SecretFieldsModel(StrictModel):
    """A config model whose ``secret_fields`` may be given inline or as ``<name>_file``.

    Both set is an error; the file's content (trailing newline removed) becomes the value.
    """

    secret_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in cls.secret_fields:
            file_key = f"{name}_file"
            path = data.pop(file_key, None)
            if path is None:
                continue
            if data.get(name) not in (None, ""):
                raise ValueError(f"set either {name} or {file_key}, not both")
            try:
                data[name] = Path(str(path)).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{file_key}: cannot read {path}: {exc.strerror}") from None
        return data


def secret_value(secret: SecretStr | None) -> str:
    return secret.get_secret_value() if secret is not None else ""


_URL_SECRET_PARAMS = re.compile(
    r"((?:key|token|access_token|corpsecret|secret|password|sig|signature)=)[^&\s\"']+", re.I
)
_URL_USERINFO = re.compile(r"(\w+://)[^/@\s:]+:[^/@\s]+@")
_SLACK_HOOK = re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+")
_BEARERISH = re.compile(r"\b(xox[abposr]-)[A-Za-z0-9-]+")


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with known secret values and secret-looking URL parts replaced by '<redacted>'."""
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "<redacted>")
    text = _URL_SECRET_PARAMS.sub(r"\1<redacted>", text)
    text = _URL_USERINFO.sub(r"\1<redacted>@", text)
    text = _SLACK_HOOK.sub(r"\1<redacted>", text)
    return _BEARERISH.sub(r"\1<redacted>", text)
