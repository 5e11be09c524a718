"""Everything derived from one config load; swapped as a whole on reload."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from relay.channels import CHANNELS_BY_KIND, make_renderer
from relay.channels.base import MessageRefs, Notifier, NotifierContext
from relay.config import Config
from relay.core.actions import ActionKey, LinkMaker
from relay.core.escalations import Policy
from relay.core.schedules import Override, Schedule, on_call
from relay.obs.metrics import Metrics
from relay.pipeline.escalation import EscalationContext, OnCall
from relay.pipeline.grouping import IntegrationPolicy
from relay.pipeline.heartbeats import CheckContext, Heartbeat, build_heartbeats
from relay.pipeline.hold import DigestBuilder, hold_digest_jobs
from relay.pipeline.routing import Route, build_route_tree
from relay.pipeline.timegate import Intervals, TimeGate, gate_at
from relay.templating.engine import Renderer

logger = logging.getLogger("relay.runtime")


def notifier_context(
    config: Config, *, http: httpx.AsyncClient, renderer: Renderer, refs: MessageRefs
) -> NotifierContext:
    """What notifiers get of ``config`` (the default locale, whether silences can be
    created), with the shared HTTP client, the renderer and where they keep refs."""
    return NotifierContext(
        locale=config.global_.locale,
        silences=config.alertmanager is not None,
        http=http,
        renderer=renderer,
        store=refs,
        timeout=config.delivery.timeout,
        people={
            person.name: {
                **person.ids,
                **({"email": person.email} if person.email else {}),
                **({"phone": person.phone} if person.phone else {}),
            }
            for person in config.people
        },
    )


@dataclass
class Runtime:
    config: Config
    tree: Route
    routes: dict[str, Route]
    integrations: dict[str, list[IntegrationPolicy]]  # receiver name -> its integrations
    notifiers: dict[str, Notifier]  # integration id -> notifier
    renderer: Renderer
    secrets: list[str] = field(default_factory=list)
    intervals: Intervals = field(default_factory=dict)  # time interval name -> its specs
    # How a released hold window becomes digest jobs (relay.pipeline.hold.DigestBuilder).
    digest_builder: DigestBuilder = hold_digest_jobs
    policies: dict[str, Policy] = field(default_factory=dict)  # escalation policies by name
    names: dict[str, str] = field(default_factory=dict)  # person -> how messages name them
    heartbeats: list[Heartbeat] = field(default_factory=list)  # relay.pipeline.heartbeats
    _models: tuple[object, dict[str, Schedule | None]] = field(default=(None, {}), repr=False)

    @classmethod
    def build(
        cls,
        config: Config,
        *,
        http: httpx.AsyncClient,
        store: MessageRefs,
        metrics: Metrics,
        action_key: ActionKey | None = None,
        now: Callable[[], float] = time.time,
    ) -> Runtime:
        tree = build_route_tree(config.route)
        renderer = make_renderer(config, metrics)
        if action_key is not None and config.actions.links:
            renderer.links = LinkMaker(
                action_key,
                config.global_.external_url.rstrip("/"),
                config.actions.link_ttl,
                tuple(config.actions.silence) if config.alertmanager is not None else (),
                now,
            )
        ctx = notifier_context(config, http=http, renderer=renderer, refs=store)
        integrations: dict[str, list[IntegrationPolicy]] = {}
        notifiers: dict[str, Notifier] = {}
        for receiver in config.receivers:
            policies = integrations.setdefault(receiver.name, [])
            for integration_id, channel in receiver.integrations():
                policies.append(IntegrationPolicy(integration_id, channel.send_resolved))
                notifier = notifiers[integration_id] = channel.build(ctx)
                notifier.storm = channel.storm_policy()
        heartbeats = build_heartbeats(config.heartbeats, tree)
        return cls(
            config=config,
            tree=tree,
            # A missing-heartbeat group's route too: its flushes (escalation steps) find it.
            routes={route.id: route for route in [*tree.walk(), *(h.route for h in heartbeats)]},
            integrations=integrations,
            notifiers=notifiers,
            renderer=renderer,
            secrets=config.secrets(),
            intervals=config.interval_specs(),
            policies={policy.name: policy.model() for policy in config.escalation_policies},
            names={person.name: person.shown for person in config.people},
            heartbeats=heartbeats,
        )

    @staticmethod
    def check_templates(config: Config) -> list[str]:
        """Problems in the user's templates ('file:line: message') and in template strings
        of the config ('receivers[0].email_configs[0].subject: line 1: ...'); empty when
        all compile."""
        renderer = make_renderer(config)
        problems = renderer.check()
        for r_index, receiver in enumerate(config.receivers):
            for integration, channel in receiver.entries():
                for key in CHANNELS_BY_KIND[channel.kind].template_keys:
                    source = getattr(channel, key, None)
                    problem = renderer.check_string(source) if source else None
                    if problem:
                        where = f"receivers[{r_index}].{channel.kind}_configs[{integration.index}]"
                        problems.append(f"{where}.{key}: {problem}")
        return problems

    def gate(self, route: Route, now: float) -> TimeGate:
        """What the route's time intervals say at ``now`` (relay.pipeline.timegate)."""
        return gate_at(route, self.intervals, now)

    def escalation_plan(self) -> tuple[object, ...]:
        """The policies and which route has which: a reload that changes it re-times
        the running escalations."""
        return (
            sorted(self.policies.items()),
            sorted((r.id, r.escalation) for r in self.routes.values() if r.escalation),
        )

    @property
    def escalates(self) -> bool:
        """Whether any route has an escalation policy."""
        return any(route.escalation for route in self.routes.values())

    def on_call_at(self, now: float, runtime: dict[str, tuple[Override, ...]]) -> OnCall:
        """Who each target names at ``now`` (``runtime``: overrides made through the API,
        by schedule); each schedule is asked once per resolver."""
        found: dict[str, tuple[str, ...]] = {}
        # The schedules, built once per set of overrides (ingest asks for every webhook).
        if self._models[0] is not runtime:
            self._models = (runtime, {})
        models = self._models[1]

        def resolve(target: str) -> tuple[str, ...]:
            if target not in found:
                kind, _, name = target.partition(":")
                if kind == "person":
                    found[target] = (name,) if self.config.person(name) is not None else ()
                else:
                    if name not in models:
                        models[name] = self.config.schedule(name, runtime.get(name, ()))
                    model = models[name]
                    person = on_call(model, now)[0] if model is not None else None
                    found[target] = (person,) if person else ()
            return found[target]

        return resolve

    def escalation_for(self, route: Route, resolve: OnCall) -> EscalationContext | None:
        """What escalating a group of ``route`` needs; None when the route has no policy
        (a running escalation then stops)."""
        if route.escalation is None:
            return None
        return EscalationContext(self.policies.get(route.escalation), resolve, self.names, self.integrations)

    def heartbeat_context(self, now: float, overrides: dict[str, tuple[Override, ...]]) -> CheckContext:
        """What a heartbeat check at ``now`` needs (``overrides``: as for on_call_at)."""
        resolve = self.on_call_at(now, overrides)
        return CheckContext(
            heartbeats=self.heartbeats,
            integrations=self.integrations,
            locale=self.config.global_.locale,
            external_url=self.config.global_.external_url,
            gate_of=lambda route: self.gate(route, now),
            escalation_of=lambda route: self.escalation_for(route, resolve),
        )

    def route_for(self, route_id: str) -> Route:
        """The route a stored group came from; the root if a reload removed it."""
        return self.routes.get(route_id, self.tree)

    async def aclose(self) -> None:
        for notifier in self.notifiers.values():
            try:
                await notifier.aclose()
            except Exception:  # closing must not stop the others from closing
                logger.exception("closing a notifier failed")
