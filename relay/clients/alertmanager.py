"""Alertmanager's API v2, for creating silences: a client that tries each URL of an HA
pair (the ``alertmanager:`` section, relay.config.alertmanager) in turn until one accepts.

The members of an HA pair gossip silences to each other, so one that accepts is enough.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from relay.config.alertmanager import AlertmanagerConfig
from relay.core.secrets import redact

logger = logging.getLogger("relay.alertmanager")

SILENCES_PATH = "/api/v2/silences"


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
    labels: Mapping[str, str],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
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
        self,
        labels: Mapping[str, str],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
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
                base + SILENCES_PATH,
                json=body,
                headers=self._config.headers(),
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
