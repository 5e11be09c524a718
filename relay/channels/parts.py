"""Sending the parts of one split message in order, resuming where a failed attempt stopped.

How many parts of a job went through is kept in the store under ``parts:<job id>``
(with what each post answered, e.g. a Slack message's ts), so a retry resumes at the
part that failed instead of sending the earlier ones again. An error names the part
("part 2/3 (part 1 delivered, a retry resumes here): ..."). The bodies go into
``Delivery.sent`` exactly as posted, for the delivery log; when a part fails, the
error's ``sent`` holds the parts this attempt posted up to and including that one.
"""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from relay.channels.base import (
    ChannelConfig,
    Delivery,
    Message,
    Notifier,
    NotifierContext,
    Preview,
    parts_preview,
)
from relay.core.alerts import Notification
from relay.core.digests import Digest, DigestMessage
from relay.core.errors import DeliveryError, PermanentError, RetryableError
from relay.core.rates import Pace
from relay.core.text import normalize_locale
from relay.templating.split import json_bytes, not_shown

logger = logging.getLogger("relay.channels.parts")

#: How long the delivered-part count of a split job is kept (past any retry window).
PROGRESS_TTL = 7 * 86400.0


class JobMessage(Protocol):
    """A message or a digest message: what identifies the job whose parts these are, and
    the destination's pace its parts keep."""

    @property
    def job_id(self) -> str: ...

    @property
    def pace(self) -> Pace: ...


#: ``post(body)``: send one part; returns what to remember of the answer (JSON-able).
PostPart = Callable[[Any], Awaitable[Any]]


def as_sent(body: Any) -> str:
    """A body as the delivery log shows it: text as is, anything else as JSON."""
    if isinstance(body, str):
        return body
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def in_part(exc: DeliveryError, index: int, total: int, start: int = 0, noun: str = "part") -> DeliveryError:
    """``exc`` with the part it happened in named; unchanged for a message of one part."""
    if total == 1:
        return exc
    where = f"{noun} {index + 1}/{total}"
    if index > start:
        delivered = f"{noun} {start + 1}" if index == start + 1 else f"{noun}s {start + 1}-{index}"
        where += f" ({delivered} delivered, a retry resumes here)"
    elif start:
        where += " (a retry resumed here)"
    message = f"{where}: {exc.message}"
    if isinstance(exc, RetryableError):
        return RetryableError(exc.reason, message, exc.retry_after, throttled=exc.throttled)
    return PermanentError(exc.reason, message)


async def send_parts(
    ctx: NotifierContext,
    message: JobMessage,
    bodies: Sequence[Any],
    post: PostPart,
    *,
    noun: str = "part",
    on_progress: Callable[[list[Any]], Awaitable[None]] | None = None,
    shown: Callable[[Any], Any] = lambda body: body,
) -> Delivery:
    """Post ``bodies`` in order, resuming after the parts an earlier attempt delivered.

    ``on_progress(results)`` runs after each part with what every delivered part's post
    returned so far (Slack keeps the first post's ts to edit it when the group resolves).
    ``Delivery.data["results"]`` holds the same list. ``shown``: a body as the
    delivery log may keep it (phone numbers masked).
    """
    key = f"parts:{message.job_id}"
    total = len(bodies)
    start = 0
    results: list[Any] = []
    if total > 1:
        saved = await _read(ctx, key)
        if saved is not None and saved.get("total") == total:
            start = min(int(saved.get("sent", 0)), total)
            results = list(saved.get("results") or [None] * start)[:start]
    pace = message.pace
    for index in range(start, total):
        await pace.next()  # every part takes its own place in the destination's limit
        try:
            results.append(await post(bodies[index]))
        except DeliveryError as exc:
            # What this attempt put on the wire, the failing part included.
            sent = [as_sent(shown(body)) for body in bodies[start : index + 1]]
            raise in_part(exc, index, total, start, noun).with_sent(sent) from None
        finally:
            pace.answered()
        if on_progress is not None:
            await on_progress(results)
        if total > 1:
            await _write(ctx, key, {"sent": index + 1, "total": total, "results": results})
    detail = f"{total} {noun}s" if total > 1 else ""
    if start:
        detail += f", resumed at {noun} {start + 1}"
    return Delivery(
        detail=detail,
        data={"parts": total, "resumed_at": start + 1 if start else None, "results": results},
        sent=[as_sent(shown(body)) for body in bodies[start:]],
    )


async def _read(ctx: NotifierContext, key: str) -> dict[str, Any] | None:
    try:
        return await ctx.store.get_ref(key)
    except Exception as exc:  # progress is an optimisation: a store hiccup costs a resend
        logger.warning("cannot read %s from the store: %s", key, exc)
        return None


async def _write(ctx: NotifierContext, key: str, value: dict[str, Any]) -> None:
    try:
        await ctx.store.set_ref(key, value, ttl=PROGRESS_TTL)
    except Exception as exc:  # raising would send the delivered part again
        logger.warning("cannot write %s to the store: %s", key, exc)


C = TypeVar("C", bound=ChannelConfig)


class PostingNotifier(Notifier, Generic[C]):
    """A channel that posts rendered bodies one by one. The channel renders them
    (``render_parts``, ``digest_bodies``), posts one (``_post``) and says how its vendor
    measures one (``body_size`` against ``limit``, in ``unit``); sending in order with
    resume (relay.channels.parts.send_parts), the rate limiter's count and the preview
    are written here once."""

    #: What one body is called in errors and the delivery detail ("card"); a digest's
    #: bodies are always "part"s.
    noun = "part"
    #: The vendor's limit per body, in ``unit``, for previews.
    limit: int | None = None
    unit = "bytes"

    def __init__(self, config: C, ctx: NotifierContext) -> None:
        self._cfg = config
        self._ctx = ctx
        self._locale = normalize_locale(config.locale or ctx.locale)

    @abc.abstractmethod
    def render_parts(self, message: Message) -> list[dict[str, Any]]:
        """The bodies ``send`` posts for ``message``, in order, each within the limit."""

    @abc.abstractmethod
    async def _post(self, body: dict[str, Any]) -> Any:
        """Post one body; returns what to remember of the answer (JSON-able, or None)."""

    def shown(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as the delivery log and previews show it (here: as sent)."""
        return body

    def body_size(self, body: dict[str, Any]) -> int:
        """``body`` as the vendor counts it against ``limit`` (here: its JSON bytes)."""
        return json_bytes(body)

    def render_alerts(
        self, name: str, n: Notification, *, strip: bool = False, **extra: Any
    ) -> Callable[[Sequence[int], int | None], str]:
        """``render(indices, more)`` for split_rendered: template ``name`` with only those
        of ``n``'s alerts (and "and N more" on the last part, ``more`` counting the
        alerts the part cap left out); everything else in the context, the firing and
        resolved counts too, describes the whole group. ``strip``: without leading and
        trailing white space."""

        def render(indices: Sequence[int], more: int | None) -> str:
            text = self._ctx.renderer.render(
                name,
                n,
                locale=self._locale,
                alerts=[n.alerts[i] for i in indices],
                truncated_alerts=not_shown(n.truncated_alerts, more),
                **extra,
            )
            return text.strip() if strip else text

        return render

    def messages_for(self, message: Message) -> int:
        return len(self.rendered(message, self.render_parts))

    def preview(self, message: Message) -> Preview:
        bodies = self.render_parts(message)
        sizes = [self.body_size(body) for body in bodies]
        return parts_preview(self._cfg.kind, [self.shown(b) for b in bodies], sizes, self.limit, self.unit)

    def digest_preview(self, digest: Digest, kind: str) -> Preview:
        bodies = self.digest_bodies(digest)
        sizes = [self.body_size(body) for body in bodies]
        shown = [self.shown(body) for body in bodies]
        return parts_preview(f"{kind} digest", shown, sizes, self.limit, self.unit, noun="part")

    async def send(self, message: Message) -> Delivery:
        bodies = self.rendered(message, self.render_parts)
        return await send_parts(self._ctx, message, bodies, self._post, noun=self.noun, shown=self.shown)

    async def send_digest(self, message: DigestMessage) -> Delivery:
        return await send_parts(self._ctx, message, self.digest_parts(message), self._post, shown=self.shown)
