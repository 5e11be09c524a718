"""Email over SMTP (aiosmtplib): multipart text + HTML, threaded per group."""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from html import escape
from typing import TYPE_CHECKING, Annotated, ClassVar

import aiosmtplib
from pydantic import Field, SecretStr, field_validator

from relay.channels.base import (
    Channel,
    ChannelConfig,
    Delivery,
    Message,
    Notifier,
    NotifierContext,
    Preview,
)
from relay.core.durations import Duration, within
from relay.core.errors import DeliveryError, PermanentError, RetryableError
from relay.core.secrets import redact
from relay.templating.split import cut_bytes, nbytes, not_shown, split_rendered

if TYPE_CHECKING:
    from relay.core.alerts import Notification
    from relay.core.digests import Digest, DigestMessage

# Headers relay owns: the MIME structure and the threading ids.
_RESERVED_HEADERS = frozenset(
    {"content-type", "content-transfer-encoding", "mime-version", "message-id", "in-reply-to", "references"}
)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII without ':' (RFC 5322 ftext)


#: The text and HTML parts of one mail together, in UTF-8 bytes: a group of 10,000 alerts
#: would otherwise be a 13 MB mail that phones do not open (Gmail clips HTML past 102 KB).
DEFAULT_MAX_BYTES = 262_144


class EmailConfig(ChannelConfig):
    kind: ClassVar[str] = "email"
    secret_fields: ClassVar[tuple[str, ...]] = ("auth_password",)

    to: list[str]
    from_: str = Field(alias="from")
    cc: list[str] = Field(default_factory=list)
    smarthost: str
    hello: str = "localhost"
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    require_tls: bool = True  # STARTTLS on a plain connection
    tls: bool | None = None  # implicit TLS; None: on when the port is 465
    tls_insecure_skip_verify: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    subject: str | None = None  # a template string overriding the built-in subject
    timeout: Annotated[Duration, within(0.001, 600)] | None = None
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=16_384,
        le=25_000_000,
        description="the text and HTML parts together at most; past it alerts are left out",
    )

    @field_validator("to", "cc", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("to")
    @classmethod
    def _some_recipient(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one recipient is required")
        return value

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if "://" in value:  # smtp://host:25 would pass the split below, and never connect
            raise ValueError(f"expected host:port, not a URL, got {value!r}")
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"invalid header name {name!r}")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by relay and cannot be overridden")
            if "\r" in text or "\n" in text:
                raise ValueError(f"header {name!r}: a value cannot contain line breaks")
        return value

    @property
    def host(self) -> str:
        return self.smarthost.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.smarthost.rpartition(":")[2])

    @property
    def implicit_tls(self) -> bool:
        return self.tls if self.tls is not None else self.port == 465

    def secrets(self) -> list[str]:
        values = super().secrets()
        if self.auth_password is not None:
            # AUTH PLAIN sends base64("\0user\0password"): redact() covers its encodings.
            password = self.auth_password.get_secret_value()
            values.append(f"\0{self.auth_username or ''}\0{password}")
        return values

    def build(self, ctx: NotifierContext) -> Notifier:
        return EmailNotifier(self, ctx)


def thread_id(receiver: str, group_key: str, domain: str) -> str:
    """The synthetic Message-ID every mail of one group refers to, so clients thread them."""
    digest = hashlib.sha256(f"{receiver}\x00{group_key}".encode()).hexdigest()[:24]
    return f"<group-{digest}@{domain}>"


class EmailNotifier(Notifier):
    """One mail per notification; a new SMTP connection per attempt."""

    def __init__(self, config: EmailConfig, ctx: NotifierContext) -> None:
        self._cfg = config
        self._renderer = ctx.renderer
        self._ctx = ctx
        self._locale = config.locale or ctx.locale
        self._timeout = config.timeout or ctx.timeout
        self._secrets = config.secrets()
        self._sender = parseaddr(config.from_)[1] or config.from_
        self._domain = self._sender.rpartition("@")[2] or "relay.invalid"
        self._recipients = [addr for _, addr in getaddresses([*config.to, *config.cc]) if addr]

    def compose(self, message: Message) -> EmailMessage:
        """The MIME message for ``message``: text and HTML alternatives, threading headers."""
        cfg, n = self._cfg, message.notification
        if cfg.subject:
            subject = self._renderer.render_string(
                cfg.subject, n, locale=self._locale, fallback="email.subject"
            )
        else:
            subject = self._renderer.render("email.subject", n, locale=self._locale)
        mail = EmailMessage()
        mail["Subject"] = " ".join(subject.split())  # a header cannot hold line breaks
        mail["From"] = cfg.from_
        mail["To"] = ", ".join([*cfg.to, *self.paged(n)])
        if cfg.cc:
            mail["Cc"] = ", ".join(cfg.cc)
        mail["Date"] = format_datetime(self._renderer.now())
        mail["Message-ID"] = f"<{message.job_id}@{self._domain}>"
        thread = thread_id(n.receiver, n.group_key, self._domain)
        mail["In-Reply-To"] = thread
        mail["References"] = thread
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        for name, value in cfg.headers.items():
            del mail[name]
            mail[name] = value
        text, html = self.bodies(n)
        mail.set_content(text, charset="utf-8")
        mail.add_alternative(html, subtype="html", charset="utf-8")
        return mail

    def bodies(self, n: Notification) -> tuple[str, str]:
        """The text and HTML parts, together within ``max_bytes``: the alerts that fit,
        and a last line that counts the rest and links the group's page."""

        def render(indices: Sequence[int], more: int | None) -> tuple[str, str]:
            shown = [n.alerts[i] for i in indices]
            hidden = not_shown(n.truncated_alerts, more)
            return (
                self._renderer.render(
                    "email.txt", n, locale=self._locale, alerts=shown, truncated_alerts=hidden
                ),
                self._renderer.render(
                    "email.html", n, locale=self._locale, alerts=shown, truncated_alerts=hidden
                ),
            )

        def size(pair: tuple[str, str]) -> int:
            return nbytes(pair[0]) + nbytes(pair[1])

        def cut(pair: tuple[str, str], budget: int) -> tuple[str, str]:
            # One alert bigger than the whole mail: the text keeps what fits; the HTML
            # cannot be cut without breaking its markup, so it says to read the text.
            share = budget // 2
            while True:
                text = cut_bytes(pair[0], share)
                html = f"<pre>{escape(text, quote=False)}</pre>"
                if size((text, html)) <= budget or share < 64:
                    return text, html
                share //= 2

        parts = split_rendered(render, len(n.alerts), self._cfg.max_bytes, measure=size, cut=cut, max_parts=1)
        return parts[0]

    def preview(self, message: Message) -> Preview:
        mail = self.compose(message)
        lines = [f"{name}: {value}" for name, value in mail.items()]
        for part in mail.iter_parts():
            content = str(part.get_content()).rstrip("\n")
            lines += ["", f"--- {part.get_content_type()} ---", content]
        text = "\n".join(lines)
        return Preview(text=text, note="email: one message, text and HTML parts", parts=[text])

    def prepare(self, message: Message | DigestMessage) -> None:
        if isinstance(message, Message):
            self.rendered(message, lambda m: [self.compose(m)])
        else:
            self.digest_parts(message)

    async def send(self, message: Message) -> Delivery:
        mail: EmailMessage = self.rendered(message, lambda m: [self.compose(m)])[0]
        paged = [a for a in self.paged(message.notification) if a not in self._recipients]
        return await self._transmit(mail, [*self._recipients, *paged])

    def paged(self, n: Notification) -> list[str]:
        """The addresses (``email`` in ``people:``) of the people an escalation step
        pages: they are added to To."""
        if n.escalation is None or not n.firing:
            return []
        directory = self._ctx.addresses("email")
        return list(dict.fromkeys(directory[p] for p in n.escalation.people if p in directory))

    # -- digests: one text/plain mail, its subject the digest's first line

    def digest_bodies(self, digest: Digest) -> list[str]:
        from relay.templating.digest import render_digest

        return render_digest(self._renderer, "email.digest", digest, locale=self._locale, limit=None)

    def compose_digest(self, message: DigestMessage) -> EmailMessage:
        text = self.digest_bodies(message.digest)[0]
        mail = EmailMessage()
        mail["Subject"] = " ".join(text.partition("\n")[0].split())
        mail["From"] = self._cfg.from_
        mail["To"] = ", ".join(self._cfg.to)
        if self._cfg.cc:
            mail["Cc"] = ", ".join(self._cfg.cc)
        mail["Date"] = format_datetime(self._renderer.now())
        mail["Message-ID"] = f"<{message.job_id}@{self._domain}>"
        mail["Auto-Submitted"] = "auto-generated"
        for name, value in self._cfg.headers.items():
            del mail[name]
            mail[name] = value
        mail.set_content(text, charset="utf-8")
        return mail

    async def send_digest(self, message: DigestMessage) -> Delivery:
        return await self._transmit(self.compose_digest(message))

    async def _transmit(self, mail: EmailMessage, recipients: list[str] | None = None) -> Delivery:
        cfg = self._cfg
        use_tls = cfg.implicit_tls
        try:
            refused, _ = await aiosmtplib.send(
                mail,
                sender=self._sender,
                recipients=recipients or self._recipients,
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.auth_username,
                password=(cfg.auth_password.get_secret_value() if cfg.auth_password is not None else None),
                local_hostname=cfg.hello,
                timeout=self._timeout,
                use_tls=use_tls,
                start_tls=cfg.require_tls and not use_tls,
                validate_certs=not cfg.tls_insecure_skip_verify,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            # ``from None``: the chained aiosmtplib traceback adds nothing the message lacks.
            # The mail as composed goes with the error: the delivery log shows what failed.
            raise self._error(exc).with_sent([mail.as_string()]) from None
        data = {"message_id": mail["Message-ID"]}
        sent = [mail.as_string()]
        if not refused:
            return Delivery(data=data, sent=sent)
        detail = "refused: " + "; ".join(
            f"{rcpt} ({resp.code} {resp.message})" for rcpt, resp in sorted(refused.items())
        )
        return Delivery(detail=self._clean(detail), data=data, sent=sent)

    def _clean(self, text: str) -> str:
        return redact(" ".join(text.split()), self._secrets)

    def _error(self, exc: BaseException) -> DeliveryError:
        """Sort an SMTP failure: 4xx and transport trouble retry, 5xx and bad setup do not."""
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            words = "; ".join(f"{r.recipient} ({r.code} {r.message})" for r in exc.recipients)
            text = self._clean(f"all recipients refused: {words}")
            transient = [r.code for r in exc.recipients if not 500 <= r.code < 600]
            if exc.recipients and not transient:
                return PermanentError(f"smtp_{exc.recipients[0].code}", text)
            return RetryableError(f"smtp_{transient[0]}" if transient else "smtp_error", text)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            text = self._clean(f"{exc.code} {exc.message}")
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError) and 500 <= exc.code < 600:
                return PermanentError("smtp_auth", text)
            if 500 <= exc.code < 600:
                return PermanentError(f"smtp_{exc.code}", text)
            if 400 <= exc.code < 500:
                return RetryableError(f"smtp_{exc.code}", text)
            return RetryableError("smtp_error", text)
        if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts subclass it
            return RetryableError("timeout", self._clean(str(exc) or "timed out"))
        cause = _ssl_cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            # Deterministic until someone fixes the certificate or the config: dead-letter now
            # so the operator sees it; dead jobs can be retried once it is fixed.
            return PermanentError("tls_verify", self._clean(f"{exc} ({cause.verify_message})"))
        if cause is not None:
            return RetryableError("tls", self._clean(str(exc)))
        if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
            return RetryableError("disconnected", self._clean(str(exc)))
        if isinstance(exc, OSError):  # SMTPConnectError, refused, unreachable, DNS
            return RetryableError("connect", self._clean(str(exc)))
        # Anything else is aiosmtplib refusing the setup: no STARTTLS or AUTH offered,
        # SMTPUTF8 needed but missing. Retrying cannot change that.
        return PermanentError("smtp_unsupported", self._clean(str(exc)))


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` (aiosmtplib wraps handshake failures), if any."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


CHANNELS = (
    Channel(
        "email",
        EmailConfig,
        templates=("email.subject", "email.txt", "email.html", "email.digest"),
        preview_settings={
            "to": ["ops@example.com"],
            "from": "relay@example.com",
            "smarthost": "smtp.example.com:587",
        },
        single_line=("email.subject",),
        template_keys=("subject",),
    ),
)
