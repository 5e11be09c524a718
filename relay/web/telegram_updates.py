"""Telegram's button presses: ``POST /api/v1/telegram/updates`` (the bot's webhook) or
relay polling ``getUpdates`` (``updates: polling``, for a relay the internet cannot
reach; one replica polls a bot at a time).

A webhook update is taken only with the ``X-Telegram-Bot-Api-Secret-Token`` of a
Telegram config (compared in constant time): anything else is 401 and is not parsed.
An update acts once: its ``update_id`` (per bot) is remembered in the store across
replicas, and a repeat does nothing. A press names an action token (relay.core.actions:
signed, expiring, bound to one notification); the notification must be one this bot
sent. relay answers the press at once (``answerCallbackQuery``: the toast) and puts
the outcome on the message's keyboard ("✅ 张三 acknowledged"), so everyone in the chat
sees who did it. The presser is the person whose ``ids.telegram`` is their user id,
else their Telegram name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay.channels.telegram import CALLBACK_PREFIX, TelegramConfig
from relay.core.actions import ACKNOWLEDGE, BadToken, verify
from relay.core.alerts import Notification
from relay.core.errors import StoreUnavailable
from relay.core.secrets import redact, same_secret
from relay.core.text import normalize_locale
from relay.web.group_actions import ACK, SILENCE, act

if TYPE_CHECKING:
    from relay.config import Config
    from relay.web.state import RelayState

logger = logging.getLogger("relay.telegram_updates")

UPDATES_PATH = "/api/v1/telegram/updates"
MAX_BODY = 64 * 1024
#: An update id is remembered this long (Telegram re-sends an unanswered one for a day).
SEEN_FOR = 2 * 86400.0
DONE_DATA = f"{CALLBACK_PREFIX}done"
POLL_TIMEOUT = 25  # seconds getUpdates waits for an update
POLL_LEASE = 40.0  # seconds one replica holds a bot's polling

WORDS = {
    "en": {
        "acked": "✅ {by} acknowledged",
        "silenced": "🔕 {by} silenced until {until}",
        "done": "Done already",
        "expired": "This button has expired",
        "invalid": "Not a button of this relay",
        "gone": "This message is no longer kept",
        "failed": "Nothing was done: {why}",
    },
    "zh-CN": {
        "acked": "✅ {by} 已确认",
        "silenced": "🔕 {by} 已静默至 {until}",
        "done": "已处理",
        "expired": "按钮已过期",
        "invalid": "不是本 relay 的按钮",
        "gone": "该消息已不再保存",
        "failed": "未执行：{why}",
    },
}


def telegram_configs(config: Config) -> list[tuple[str, TelegramConfig]]:
    """(integration id, config) of every Telegram entry."""
    found = []
    for receiver in config.receivers:
        for integration, channel in receiver.integrations():
            if isinstance(channel, TelegramConfig):
                found.append((integration, channel))
    return found


def _bot_id(config: TelegramConfig) -> str:
    return config.bot_token.get_secret_value().partition(":")[0]


async def handle_webhook(request: Request, state: RelayState) -> Response:
    """The bot's webhook: verified by its secret token before anything is read."""
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    matching = [
        (integration, cfg)
        for integration, cfg in telegram_configs(state.runtime.config)
        if cfg.webhook_secret is not None and same_secret(given, cfg.webhook_secret.get_secret_value())
    ]
    if not given or not matching:
        return JSONResponse({"error": "unknown or missing X-Telegram-Bot-Api-Secret-Token"}, 401)
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse({"error": f"update over {MAX_BODY} bytes"}, 413)
    try:
        update = json.loads(body)
    except ValueError:
        return JSONResponse({"error": "the update is not JSON"}, 400)
    if not isinstance(update, dict):
        return JSONResponse({"error": "the update is not a JSON object"}, 400)
    try:
        await handle_update(state, matching[0][1], update)
    except StoreUnavailable:
        return JSONResponse({"error": "storage unavailable"}, 503)  # Telegram sends it again
    return JSONResponse({})


async def handle_update(state: RelayState, cfg: TelegramConfig, update: dict[str, Any]) -> None:
    """One update of bot ``cfg``: a press of relay's button acts once; others are ignored."""
    update_id = update.get("update_id")
    press = update.get("callback_query")
    if not isinstance(update_id, int) or not isinstance(press, dict):
        return
    if not await state.store.add_ref(f"telegram-update:{_bot_id(cfg)}:{update_id}", {"at": 1}, SEEN_FOR):
        return  # a repeat: acted on already
    data = press.get("data")
    if not isinstance(data, str) or not data.startswith(CALLBACK_PREFIX):
        return
    await _press(state, cfg, press, data.removeprefix(CALLBACK_PREFIX))


async def _press(state: RelayState, cfg: TelegramConfig, press: dict[str, Any], text: str) -> None:
    config = state.runtime.config
    words = WORDS[normalize_locale(cfg.locale or config.global_.locale)]
    press_id = str(press.get("id", ""))
    if text == "done":
        await _call(state, cfg, "answerCallbackQuery", {"callback_query_id": press_id, "text": words["done"]})
        return
    key = state.action_key.value
    try:
        if key is None:
            raise BadToken("not ready")
        token = verify(key, text, state.clock.now())
    except BadToken as exc:
        toast = words["expired"] if "expired" in str(exc) else words["invalid"]
        await _call(state, cfg, "answerCallbackQuery", {"callback_query_id": press_id, "text": toast})
        return
    job = await state.store.get_job(token.job_id)
    mine = {i for i, c in telegram_configs(config) if _bot_id(c) == _bot_id(cfg)}
    if job is None or job.integration not in mine:
        await _call(state, cfg, "answerCallbackQuery", {"callback_query_id": press_id, "text": words["gone"]})
        return
    by = _presser(config, press.get("from"))
    outcome = await act(
        state,
        group_key=job.group_key,
        action=ACK if token.action == ACKNOWLEDGE else SILENCE,
        by=by,
        via="telegram",
        seconds=float(token.seconds),
        notification=Notification.model_validate(job.payload),
    )
    shown = state.runtime.names.get(by, by)
    if not outcome.done:
        why = outcome.detail or outcome.problem
        toast = words["failed"].format(why=why)[:200]
        await _call(state, cfg, "answerCallbackQuery", {"callback_query_id": press_id, "text": toast})
        return
    if outcome.until is not None:
        until = datetime.fromtimestamp(outcome.until, ZoneInfo(config.global_.timezone)).strftime(
            "%m-%d %H:%M"
        )
        line = words["silenced"].format(by=shown, until=until)
    else:
        line = words["acked"].format(by=shown)
    await _call(state, cfg, "answerCallbackQuery", {"callback_query_id": press_id, "text": line[:200]})
    message = press.get("message")
    if isinstance(message, dict) and isinstance(message.get("chat"), dict):
        await _call(
            state,
            cfg,
            "editMessageReplyMarkup",
            {
                "chat_id": message["chat"].get("id"),
                "message_id": message.get("message_id"),
                "reply_markup": {"inline_keyboard": [[{"text": line[:64], "callback_data": DONE_DATA}]]},
            },
        )


def _presser(config: Config, user: Any) -> str:
    """The person whose ids.telegram is the presser's user id, else their Telegram name."""
    if not isinstance(user, dict):
        return "telegram user"
    user_id = str(user.get("id", ""))
    for person in config.people:
        if person.ids.get("telegram") == user_id:
            return person.name
    name = user.get("username") or " ".join(
        str(part) for part in (user.get("first_name"), user.get("last_name")) if part
    )
    return str(name or f"telegram:{user_id}")[:100]


async def _call(state: RelayState, cfg: TelegramConfig, method: str, body: dict[str, Any]) -> Any:
    """A Bot API method; its ``result``, or None (logged) when Telegram refused."""
    url = f"{cfg.api_url}/bot{cfg.bot_token.get_secret_value()}/{method}"
    try:
        response = await state.http.post(url, json=body, timeout=POLL_TIMEOUT + 10)
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("Telegram %s failed: %s", method, redact(str(exc), cfg.secrets()))
        return None
    if not isinstance(data, dict) or not data.get("ok"):
        logger.warning("Telegram %s refused: %s", method, redact(str(data)[:300], cfg.secrets()))
        return None
    return data.get("result")


class Poller:
    """``updates: polling``: getUpdates for each such bot, by one replica at a time (a
    lease in the store, renewed while it polls)."""

    def __init__(self, state: RelayState) -> None:
        self.state = state
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"

    async def run(self) -> None:
        offsets: dict[str, int] = {}
        while True:
            bots = {
                _bot_id(cfg): cfg
                for _, cfg in telegram_configs(self.state.runtime.config)
                if cfg.updates == "polling"
            }
            if not bots:
                await asyncio.sleep(5)
                continue
            try:
                await asyncio.gather(*(self._poll(bot, cfg, offsets) for bot, cfg in bots.items()))
            except Exception:  # polling must outlive any one bad answer
                logger.exception("Telegram polling failed; trying again in 5 s")
                await asyncio.sleep(5)

    async def _poll(self, bot: str, cfg: TelegramConfig, offsets: dict[str, int]) -> None:
        try:
            if not await self._lease(bot):
                await asyncio.sleep(POLL_TIMEOUT / 5)
                return
            body: dict[str, Any] = {"timeout": POLL_TIMEOUT, "allowed_updates": ["callback_query"]}
            if bot in offsets:
                body["offset"] = offsets[bot]
            updates = await _call(self.state, cfg, "getUpdates", body)
            if not isinstance(updates, list):
                await asyncio.sleep(5)
                return
            for update in updates:
                if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                    offsets[bot] = max(offsets.get(bot, 0), update["update_id"] + 1)
                    await handle_update(self.state, cfg, update)
        except StoreUnavailable as exc:
            logger.warning("Telegram polling: storage unavailable: %s", exc)
            await asyncio.sleep(5)

    async def _lease(self, bot: str) -> bool:
        """Hold (or take) this bot's polling lease; False while another replica holds it."""
        store, key = self.state.store, f"telegram-poll:{bot}"
        mine = {"owner": self.owner}
        if await store.add_ref(key, mine, POLL_LEASE):
            return True
        held = await store.get_ref(key)
        if held is not None and held.get("owner") == self.owner:
            await store.set_ref(key, mine, POLL_LEASE)
            return True
        return False
