"""The ``alertmanager:`` section: where relay creates silences and how it authenticates."""

from __future__ import annotations

import base64
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, SecretStr, model_validator

from relay.core.durations import Duration, within
from relay.core.secrets import SecretFieldsModel


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


HttpURL = Annotated[str, AfterValidator(_http_url)]


class AlertmanagerBasicAuth(SecretFieldsModel):
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)

    username: str
    password: SecretStr


class AlertmanagerConfig(SecretFieldsModel):
    """Where relay creates silences (``url``, or ``urls`` for an HA pair) and how it
    authenticates (a proxy in front of Alertmanager: bearer token or basic auth)."""

    secret_fields: ClassVar[tuple[str, ...]] = ("bearer_token",)

    url: HttpURL | None = None
    urls: list[HttpURL] = Field(default_factory=list)
    bearer_token: SecretStr | None = None
    basic_auth: AlertmanagerBasicAuth | None = None
    timeout: Annotated[Duration, within(0.001, 600)] = 5.0  # per URL

    @model_validator(mode="after")
    def _complete(self) -> AlertmanagerConfig:
        if not self.endpoints:
            raise ValueError("set url (one Alertmanager) or urls (an HA pair)")
        if self.bearer_token is not None and self.basic_auth is not None:
            raise ValueError("set bearer_token or basic_auth, not both")
        return self

    @property
    def endpoints(self) -> list[str]:
        """Every URL to try, in order, without repeats."""
        listed = ([self.url] if self.url else []) + self.urls
        return list(dict.fromkeys(url.rstrip("/") for url in listed))

    def secrets(self) -> list[str]:
        values = []
        if self.bearer_token is not None:
            values.append(self.bearer_token.get_secret_value())
        if self.basic_auth is not None:
            password = self.basic_auth.password.get_secret_value()
            values += [password, f"{self.basic_auth.username}:{password}"]
        return [v for v in values if v]

    def headers(self) -> dict[str, str]:
        if self.bearer_token is not None:
            return {"Authorization": f"Bearer {self.bearer_token.get_secret_value()}"}
        if self.basic_auth is not None:
            pair = f"{self.basic_auth.username}:{self.basic_auth.password.get_secret_value()}"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        return {}
