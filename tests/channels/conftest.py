"""Shared fixtures for channel tests.

- ``config_for(yaml_text, env=None)``: a validated :class:`Config` from ``parse_config``;
  ``${VAR}`` expands from ``env`` only (default: an empty environment, so tests are hermetic).
- ``metrics``: a fresh :class:`Metrics` on its own registry (``template_errors`` and friends).
- ``renderer``: a :class:`Renderer` for a minimal config, counting into ``metrics``.
- ``http_client``: an ``httpx.AsyncClient``; mock vendors with respx (``respx_mock``).
- ``store``: an in-memory stand-in with working ``get_ref``/``set_ref`` (``store.refs``).
- ``ctx_for(config)``: a :class:`NotifierContext` with a Renderer of that config.
- ``notifier_for(yaml_text, integration=None)``: the built notifier of one integration
  (default: the first one of the first receiver).
- ``make_notification(**overrides)``, ``make_message(notification=None, **overrides)``.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from relay.channels import make_renderer
from relay.channels.base import Message, Notifier, NotifierContext
from relay.config import Config, parse_config
from relay.core.alerts import Alert, Notification
from relay.core.groups import GroupState, GroupUpdate, TransitionResult
from relay.core.jobs import Attempt, Job, JobStatus
from relay.obs.metrics import Metrics
from relay.pipeline.runtime import notifier_context
from relay.store.base import IntegrationStats, JobPage, JobQuery, KeptWebhook, Store
from relay.templating.engine import Renderer

MINIMAL_CONFIG = """
route: {receiver: default}
receivers:
  - name: default
    log_configs: [{}]
"""

STARTS_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class RefStore(Store):
    """Only message references work; the rest of the store is not a channel's business."""

    def __init__(self) -> None:
        self.refs: dict[str, dict[str, Any]] = {}
        self.ttls: dict[str, float] = {}

    async def get_ref(self, key: str) -> dict[str, Any] | None:
        return self.refs.get(key)

    async def set_ref(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self.refs[key] = value
        self.ttls[key] = ttl

    async def add_override(self, override: dict[str, Any]) -> None:
        self._unused()

    async def list_overrides(self, schedule: str | None = None) -> list[dict[str, Any]]:
        return self._unused()  # type: ignore[no-any-return]

    async def delete_override(self, schedule: str, override_id: str) -> bool:
        return self._unused()  # type: ignore[no-any-return]

    async def list_incidents(self, since: float, limit: int) -> list[dict[str, Any]]:
        return self._unused()  # type: ignore[no-any-return]

    async def add_ref(self, key: str, value: dict[str, Any], ttl: float) -> bool:
        if key in self.refs:
            return False
        await self.set_ref(key, value, ttl)
        return True

    def _unused(self, *_: Any, **__: Any) -> Any:
        raise NotImplementedError("channel tests only use get_ref/set_ref")

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    def describe(self) -> str:
        return "memory (channel tests)"

    async def apply(self, updates: Sequence[GroupUpdate]) -> list[TransitionResult]:
        return self._unused()  # type: ignore[no-any-return]

    async def due_groups(self, now: float, limit: int = 100) -> list[str]:
        return self._unused()  # type: ignore[no-any-return]

    async def get_group(self, key: str) -> GroupState | None:
        return self._unused()  # type: ignore[no-any-return]

    async def claim_jobs(
        self, owner: str, now: float, limit: int, lease: float, exclude_integrations: Collection[str] = ()
    ) -> list[Job]:
        return self._unused()  # type: ignore[no-any-return]

    async def renew(self, owner: str, job_ids: Collection[str], until: float) -> None:
        self._unused()

    async def record_attempt(self, job: Job, attempt: Attempt, next_attempt_at: float | None = None) -> None:
        self._unused()

    async def release(self, owner: str, job_ids: Collection[str], at: float | None = None) -> None:
        self._unused()

    async def requeue(self, job_id: str, now: float, by: str | None = None) -> bool:
        return self._unused()  # type: ignore[no-any-return]

    async def get_job(self, job_id: str) -> Job | None:
        return self._unused()  # type: ignore[no-any-return]

    async def list_jobs(
        self, status: JobStatus | None = None, limit: int = 100, receiver: str | None = None
    ) -> list[Job]:
        return self._unused()  # type: ignore[no-any-return]

    async def job_counts(self) -> dict[str, int]:
        return self._unused()  # type: ignore[no-any-return]

    async def prune(self, now: float, job_retention: float, group_retention: float) -> int:
        return self._unused()  # type: ignore[no-any-return]

    async def query_jobs(self, query: JobQuery) -> JobPage:
        return self._unused()  # type: ignore[no-any-return]

    async def resend(self, job_id: str, new_id: str, now: float, by: str) -> Job | None:
        return self._unused()  # type: ignore[no-any-return]

    async def integration_stats(self, now: float) -> dict[str, IntegrationStats]:
        return self._unused()  # type: ignore[no-any-return]

    async def list_groups(
        self, after: str | None, limit: int, receiver: str | None = None
    ) -> tuple[list[GroupState], str | None]:
        return self._unused()  # type: ignore[no-any-return]

    async def keep_webhooks(self, webhooks: Sequence[KeptWebhook], keep: int, keep_bytes: int) -> None:
        self._unused()

    async def recent_webhooks(self) -> list[KeptWebhook]:
        return self._unused()  # type: ignore[no-any-return]


@pytest.fixture
def config_for() -> Callable[..., Config]:
    def build(yaml_text: str, *, env: dict[str, str] | None = None) -> Config:
        return parse_config(textwrap.dedent(yaml_text), source="<test>", env=env or {})

    return build


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def renderer(config_for: Callable[..., Config], metrics: Metrics) -> Renderer:
    return make_renderer(config_for(MINIMAL_CONFIG), metrics)


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def store() -> RefStore:
    return RefStore()


@pytest.fixture
def ctx_for(
    http_client: httpx.AsyncClient, store: RefStore, metrics: Metrics
) -> Callable[[Config], NotifierContext]:
    def build(config: Config) -> NotifierContext:
        return notifier_context(config, http=http_client, renderer=make_renderer(config, metrics), refs=store)

    return build


@pytest.fixture
def notifier_for(
    config_for: Callable[..., Config], ctx_for: Callable[[Config], NotifierContext]
) -> Callable[..., Notifier]:
    def build(yaml_text: str, integration: str | None = None, env: dict[str, str] | None = None) -> Notifier:
        config = config_for(yaml_text, env=env)
        channels = dict(i for r in config.receivers for i in r.integrations())
        if integration is None:
            integration = next(iter(channels))
        return channels[integration].build(ctx_for(config))

    return build


def _alert(name: str, status: str = "firing", **annotations: str) -> Alert:
    return Alert.model_validate(
        {
            "status": status,
            "labels": {"alertname": name, "severity": "critical", "instance": "db-1:9100"},
            "annotations": {"summary": f"{name} on db-1", **annotations},
            "startsAt": STARTS_AT.isoformat(),
            "endsAt": (STARTS_AT + timedelta(minutes=5)).isoformat()
            if status == "resolved"
            else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph?g0.expr=up",
        }
    )


@pytest.fixture
def make_notification() -> Callable[..., Notification]:
    """A firing group of ``count`` alerts for receiver ``oncall``; keywords override fields."""

    def build(count: int = 2, status: str = "firing", **overrides: Any) -> Notification:
        alerts = [_alert(f"Alert{i}", status) for i in range(count)]
        fields: dict[str, Any] = {
            "receiver": "oncall",
            "group_key": '{}:{alertname="DiskFull"}',
            "status": status,
            "alerts": alerts,
            "group_labels": {"alertname": "DiskFull"},
            "common_labels": {"severity": "critical"},
            "external_url": "http://alertmanager.local:9093",
        }
        fields.update(overrides)
        return Notification.model_validate(fields)

    return build


@pytest.fixture
def make_alert() -> Callable[..., Alert]:
    return _alert


@pytest.fixture
def make_message(make_notification: Callable[..., Notification]) -> Callable[..., Message]:
    def build(notification: Notification | None = None, **overrides: Any) -> Message:
        fields: dict[str, Any] = {
            "job_id": "3f2a9c0d8e7b4a1f9c6d5e4b3a2f1e0d",
            "notification": notification or make_notification(),
            "integration": "oncall/test/0",
            "attempt": 1,
        }
        fields.update(overrides)
        return Message(**fields)

    return build
