"""WeCom's side of the application callback, written from WeCom's documentation (加解密
方案) with pycryptodome, so relay's own helpers are never what checks relay."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from urllib.parse import urlencode

from Crypto.Cipher import AES

CORP = "ww0123456789abcdef"
TOKEN = "wecomCallbackToken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


def wecom_encrypt(message: bytes) -> str:
    """WeCom's encryption as its documentation describes it: random(16) + length (4,
    big-endian) + message + corp id, PKCS#7 to 32 bytes, AES-256-CBC, IV = key[:16]."""
    key = base64.b64decode(AES_KEY + "=")
    body = os.urandom(16) + struct.pack(">I", len(message)) + message + CORP.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    return base64.b64encode(AES.new(key, AES.MODE_CBC, key[:16]).encrypt(body)).decode()


def wecom_signature(timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce, encrypted])).encode()).hexdigest()


def callback(
    encrypted: str, timestamp: float, nonce: str, *, signature: str | None = None
) -> tuple[str, bytes]:
    stamp = str(int(timestamp))
    query = urlencode(
        {
            "msg_signature": signature or wecom_signature(stamp, nonce, encrypted),
            "timestamp": stamp,
            "nonce": nonce,
        }
    )
    body = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
        "<AgentID><![CDATA[1000002]]></AgentID></xml>"
    ).encode()
    return f"/api/v1/wecom/callback?{query}", body


def press_event(key: str, task: str, at: float, user: str = "ZhangSan") -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{int(at)}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[template_card_event]]></Event>"
        f"<EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[{task}]]></TaskId>"
        "<CardType><![CDATA[button_interaction]]></CardType><ResponseCode><![CDATA[rc-1]]></ResponseCode>"
        "<AgentID>1000002</AgentID></xml>"
    ).encode()
