"""Feishu's side of an app's card callbacks, written from Feishu's documentation (事件与
回调: 加密与签名) with pycryptodome, so relay's own helpers are never what checks relay."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from Crypto.Cipher import AES

APP_ID = "cli_a1b2c3d4e5f6"
VERIFICATION_TOKEN = "vTokenE2e0123456789"
ENCRYPT_KEY = "encryptKeyE2e-abcdef"
CHAT_ID = "oc_a0553eda9014c201e6969b478895c230"


def feishu_encrypt(payload: dict[str, Any], key: str = ENCRYPT_KEY) -> str:
    """AES-256-CBC, key SHA-256(encrypt key), a random IV sent first, PKCS#7 padding."""
    plain = json.dumps(payload).encode()
    pad = 16 - len(plain) % 16
    iv = os.urandom(16)
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(plain + bytes([pad]) * pad)).decode()


def feishu_headers(body: bytes, timestamp: float, nonce: str, key: str = ENCRYPT_KEY) -> dict[str, str]:
    """X-Lark-Signature: SHA-256 hex of timestamp + nonce + encrypt key + the raw body."""
    stamp = str(int(timestamp))
    signature = hashlib.sha256((stamp + nonce + key).encode() + body).hexdigest()
    return {
        "X-Lark-Request-Timestamp": stamp,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature,
        "Content-Type": "application/json",
    }


def card_action(value: dict[str, Any], at: float, event_id: str, open_id: str) -> dict[str, Any]:
    """A card.action.trigger callback (schema 2.0), as Feishu sends it."""
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id,
            "token": VERIFICATION_TOKEN,
            "create_time": str(int(at * 1000)),
            "event_type": "card.action.trigger",
            "tenant_key": "tenant-1",
            "app_id": APP_ID,
        },
        "event": {
            "operator": {"tenant_key": "tenant-1", "open_id": open_id},
            "token": "c-update-token",
            "action": {"value": value, "tag": "button"},
            "host": "im_message",
            "context": {"open_message_id": "om_1", "open_chat_id": CHAT_ID},
        },
    }


def signed_request(payload: dict[str, Any], at: float, nonce: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"encrypt": feishu_encrypt(payload)}).encode()
    return body, feishu_headers(body, at, nonce)
