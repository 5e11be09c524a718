"""WeCom's callback encryption (企业微信 "加解密方案"), for the application's callback URL.

- The signature ``msg_signature`` is the SHA-1 hex of the token, the timestamp, the
  nonce and the encrypted text, sorted and joined.
- The key is the 43-character EncodingAESKey with ``=`` appended, base64-decoded: 32
  bytes. AES-256-CBC uses the key's first 16 bytes as its IV, and PKCS#7 padding to
  32-byte blocks.
- The plain text is 16 random bytes, the message's length (4 bytes, big-endian), the
  message, then the receiver id (the corp id).

relay checks the signature before it decrypts anything, and the corp id after. (It
never encrypts: it sends no passive replies.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 32


class WeComCryptoError(ValueError):
    """A callback that is not WeCom's: bad signature, key, padding or corp id."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def signed(token: str, timestamp: str, nonce: str, encrypted: str, given: str) -> bool:
    return hmac.compare_digest(signature(token, timestamp, nonce, encrypted), given.lower())


def aes_key(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise WeComCryptoError("the EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise WeComCryptoError("the EncodingAESKey must be 43 characters")
    return key


def decrypt(encoding_aes_key: str, encrypted: str, receive_id: str) -> bytes:
    """The message inside ``encrypted``; WeComCryptoError unless it is for ``receive_id``."""
    key = aes_key(encoding_aes_key)
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise WeComCryptoError("the encrypted text is not base64") from None
    if not raw or len(raw) % 16:
        raise WeComCryptoError("the encrypted text is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise WeComCryptoError("bad padding")
    body = plain[16:-pad]
    if len(body) < 4:
        raise WeComCryptoError("too short")
    (length,) = struct.unpack(">I", body[:4])
    message, receiver = body[4 : 4 + length], body[4 + length :]
    if len(message) != length or receiver.decode("utf-8", "replace") != receive_id:
        raise WeComCryptoError("not for this corp id")
    return message
