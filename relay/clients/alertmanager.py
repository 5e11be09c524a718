"""Alertmanager's API v2, for creating silences: the ``alertmanager:`` config section and
a client that tries each URL of an HA pair in turn until one accepts.

The members of an HA pair gossip silences to each other, so one that accepts is enough.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import AfterValidator, Field, SecretStr, model_validator

from relay.core.durations import Duration
from relay.core.secrets import SecretFieldsModel, redact

logger = logging.getLogger("relay.alertmanager")

SILENCES_PATH = "/api/v2/silences"


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
    timeout: Duration = Field(default=5.0, gt=0)  # per URL

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


class AlertmanagerError(Exception):
    """No Alertmanager accepted the silence; ``str()`` says why, URL by URL."""


@dataclass(frozen=True)
class Silence:
    """A silence as created: its id and the Alertmanager that accepted it."""

    id: str
    url: str


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def silence_body(
    labels: Mapping[str, str], starts_at: datetime, ends_at: datetime, created_by: str,
    comment: str,
) -> dict[str, Any]:
    """A PostableSilence: one equality matcher per label."""
    return {
        "matchers": [
            {"name": name, "value": value, "isRegex": False, "isEqual": True}
            for name, value in sorted(labels.items())
        ],
        "startsAt": _iso(starts_at),
        "endsAt": _iso(ends_at),
        "createdBy": created_by,
        "comment": comment,
    }


class AlertmanagerClient:
    """Creates silences; each URL gets ``timeout`` seconds, so a call is bounded."""

    def __init__(self, config: AlertmanagerConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http
        self._secrets = config.secrets()

    async def create_silence(
        self, labels: Mapping[str, str], starts_at: datetime, ends_at: datetime,
        created_by: str, comment: str,
    ) -> Silence:
        if not labels:
            raise AlertmanagerError("no labels to match: a silence would match every alert")
        body = silence_body(labels, starts_at, ends_at, created_by, comment)
        problems: list[str] = []
        for base in self._config.endpoints:
            try:
                return await self._post(base, body)
            except AlertmanagerError as exc:
                problems.append(f"{base}: {exc}")
                logger.warning("Alertmanager %s did not create the silence: %s", base, exc)
        raise AlertmanagerError("; ".join(problems))

    async def _post(self, base: str, body: dict[str, Any]) -> Silence:
        try:
            response = await self._http.post(
                base + SILENCES_PATH, json=body, headers=self._config.headers(),
                timeout=self._config.timeout,
            )
        except httpx.TimeoutException:
            raise AlertmanagerError(f"no answer within {self._config.timeout:g}s") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise AlertmanagerError(redact(f"cannot connect ({reason})", self._secrets)) from None
        if response.status_code != 200:
            text = " ".join(response.text.split())[:200]
            raise AlertmanagerError(redact(f"HTTP {response.status_code}: {text}", self._secrets))
        try:
            silence_id = str(response.json()["silenceID"])
        except (ValueError, KeyError, TypeError):
            raise AlertmanagerError("HTTP 200 without a silenceID: not Alertmanager's API v2") from None
        return Silence(silence_id, base)
