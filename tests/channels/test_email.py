"""EmailNotifier against a real aiosmtpd server on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from relay.channels.base import Message, Notifier
from relay.channels.email import EmailConfig, EmailNotifier, thread_id
from relay.core.alerts import Notification
from relay.core.errors import ConfigError, PermanentError, RetryableError

PASSWORD = "s3cret-Pa55word-xyz"


class LoopbackController(Controller):
    """Binds port 0 and learns the real port before aiosmtpd's self-test connects."""

    def _trigger_server(self) -> None:
        self.port = cast(asyncio.Server, self.server).sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class Sink:
    """An aiosmtpd handler that keeps what it accepts and answers as scripted."""

    def __init__(self, data_replies: list[str] | None = None, refuse: dict[str, str] | None = None) -> None:
        self.data_replies = list(data_replies or [])
        self.refuse = refuse or {}
        self.mails: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            reply = self.data_replies.pop(0)
            if not reply.startswith("250"):
                return reply
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def _authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"relay"
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., int]]:
    """``smtp_server(sink, **aiosmtpd_kwargs)`` starts a server and returns its port."""
    started: list[Controller] = []

    def start(sink: Sink, **kwargs: Any) -> int:
        controller = LoopbackController(sink, hostname="127.0.0.1", port=0, **kwargs)
        controller.start()
        started.append(controller)
        return int(controller.port)

    yield start
    for controller in started:
        controller.stop()


def email_yaml(port: int, **extra: str) -> str:
    lines = "".join(f"\n            {key}: {value}" for key, value in extra.items())
    return f"""
    route: {{receiver: oncall}}
    receivers:
      - name: oncall
        email_configs:
          - to: [ops@example.com, dba@example.com]
            cc: boss@example.com
            from: Relay <relay@alerts.example.com>
            smarthost: 127.0.0.1:{port}
            require_tls: false
            timeout: 5s{lines}
    """


def parts(mail: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in mail.iter_parts()}


async def test_delivers_multipart_text_and_html(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    sink = Sink()
    notifier = notifier_for(email_yaml(smtp_server(sink)))

    delivery = await notifier.send(make_message())

    assert delivery.detail == ""
    [mail] = sink.mails
    assert mail.get_content_type() == "multipart/alternative"
    bodies = parts(mail)
    assert set(bodies) == {"text/plain", "text/html"}
    assert "Alert0" in bodies["text/plain"] and "Alert1" in bodies["text/plain"]
    assert "Alert0" in bodies["text/html"]
    assert mail["Subject"].strip()
    assert mail["From"] == "Relay <relay@alerts.example.com>"
    assert mail["To"] == "ops@example.com, dba@example.com"
    assert mail["Cc"] == "boss@example.com"
    assert mail["Date"]
    assert mail["Auto-Submitted"] == "auto-generated"
    sender, rcpts = sink.envelopes[0]
    assert sender == "relay@alerts.example.com"
    assert sorted(rcpts) == ["boss@example.com", "dba@example.com", "ops@example.com"]


async def test_threading_headers_per_group_and_message_id_from_job(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
) -> None:
    sink = Sink()
    notifier = notifier_for(email_yaml(smtp_server(sink)))
    firing = make_notification()
    resolved = make_notification(status="resolved")
    other = make_notification(group_key='{}:{alertname="Other"}')

    await notifier.send(make_message(firing, job_id="job-firing"))
    await notifier.send(make_message(resolved, job_id="job-resolved"))
    await notifier.send(make_message(other, job_id="job-other"))

    first, second, third = sink.mails
    assert first["Message-ID"] == "<job-firing@alerts.example.com>"
    assert second["Message-ID"] == "<job-resolved@alerts.example.com>"
    group = thread_id("oncall", firing.group_key, "alerts.example.com")
    assert first["References"] == second["References"] == group
    assert first["In-Reply-To"] == second["In-Reply-To"] == group
    assert third["References"] != group
    assert third["References"].startswith("<group-")


async def test_message_id_is_stable_across_attempts(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    sink = Sink(data_replies=["451 4.3.0 Try again later", "250 OK"])
    notifier = notifier_for(email_yaml(smtp_server(sink)))

    with pytest.raises(RetryableError) as caught:
        await notifier.send(make_message(attempt=1))
    assert caught.value.reason == "smtp_451"
    assert "Try again later" in caught.value.message
    assert sink.mails == []

    await notifier.send(make_message(attempt=2))
    [mail] = sink.mails
    assert mail["Message-ID"] == f"<{make_message().job_id}@alerts.example.com>"


async def test_550_is_permanent(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    sink = Sink(data_replies=["550 5.7.1 Message rejected as spam"])
    notifier = notifier_for(email_yaml(smtp_server(sink)))

    with pytest.raises(PermanentError) as caught:
        await notifier.send(make_message())
    assert caught.value.reason == "smtp_550"
    assert "rejected as spam" in caught.value.message
    # The mail as composed goes with the error, for the delivery log.
    (sent,) = caught.value.sent
    refused = email.message_from_string(sent, policy=email.policy.default)
    assert refused["Message-ID"] == f"<{make_message().job_id}@alerts.example.com>"


async def test_partial_refusal_is_delivered_with_detail(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    sink = Sink(refuse={"dba@example.com": "550 5.1.1 No such user"})
    notifier = notifier_for(email_yaml(smtp_server(sink)))

    delivery = await notifier.send(make_message())

    assert delivery.detail == "refused: dba@example.com (550 5.1.1 No such user)"
    assert sorted(sink.envelopes[0][1]) == ["boss@example.com", "ops@example.com"]


@pytest.mark.parametrize(
    ("reply", "error", "reason"),
    [
        ("550 5.1.1 No such user", PermanentError, "smtp_550"),
        ("450 4.2.1 Mailbox busy", RetryableError, "smtp_450"),
    ],
)
async def test_all_recipients_refused(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    reply: str,
    error: type[Exception],
    reason: str,
) -> None:
    everyone = ["ops@example.com", "dba@example.com", "boss@example.com"]
    sink = Sink(refuse=dict.fromkeys(everyone, reply))
    notifier = notifier_for(email_yaml(smtp_server(sink)))

    with pytest.raises(error) as caught:
        await notifier.send(make_message())
    assert getattr(caught.value, "reason", None) == reason
    assert "all recipients refused" in str(caught.value)


async def test_mixed_refusal_codes_retry(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    sink = Sink(
        refuse={
            "ops@example.com": "550 5.1.1 No such user",
            "dba@example.com": "452 4.2.2 Over quota",
            "boss@example.com": "550 5.1.1 No such user",
        }
    )
    notifier = notifier_for(email_yaml(smtp_server(sink)))

    with pytest.raises(RetryableError) as caught:
        await notifier.send(make_message())
    assert caught.value.reason == "smtp_452"


async def test_auth_wrong_password_is_permanent_and_right_one_delivers(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sink = Sink()
    port = smtp_server(sink, authenticator=_authenticator, auth_require_tls=False, auth_required=True)
    wrong = notifier_for(email_yaml(port, auth_username="relay", auth_password="wrong-Pa55word-xyz"))
    right = notifier_for(email_yaml(port, auth_username="relay", auth_password=PASSWORD))

    with pytest.raises(PermanentError) as caught:
        await wrong.send(make_message())
    assert caught.value.reason == "smtp_auth"
    assert "535" in caught.value.message
    assert sink.mails == []

    await right.send(make_message())
    assert len(sink.mails) == 1
    assert "wrong-Pa55word-xyz" not in str(caught.value)
    assert PASSWORD not in caplog.text
    assert "wrong-Pa55word-xyz" not in caplog.text


async def test_password_never_in_errors_or_logs(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Even a server that echoes the password back has it redacted."""
    caplog.set_level(logging.DEBUG)
    sink = Sink(data_replies=[f"554 5.0.0 nope, {PASSWORD} is not welcome here"])
    port = smtp_server(
        sink, authenticator=lambda *a: AuthResult(success=True, handled=False), auth_require_tls=False
    )
    notifier = notifier_for(email_yaml(port, auth_username="relay", auth_password=PASSWORD))

    with pytest.raises(PermanentError) as caught:
        await notifier.send(make_message())

    assert caught.value.reason == "smtp_554"
    assert "<redacted>" in caught.value.message
    assert PASSWORD not in str(caught.value)
    # Everything but the test server's own log (it logs its reply verbatim).
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.")]
    assert ours, "expected aiosmtplib/relay debug logs to check"
    assert not [line for line in ours if PASSWORD in line]


async def test_html_part_escapes_annotations(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    make_notification: Callable[..., Notification],
    make_alert: Callable[..., Any],
) -> None:
    sink = Sink()
    notifier = notifier_for(email_yaml(smtp_server(sink)))
    evil = make_alert("Evil", summary="<script>alert(1)</script>", description="<script>alert(2)</script>")
    await notifier.send(make_message(make_notification(alerts=[evil])))

    html = parts(sink.mails[0])["text/html"]
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


async def test_subject_template_from_config(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    sink = Sink()
    notifier = notifier_for(email_yaml(smtp_server(sink), subject="'[RELAY] {{ alerts | length }} alerts\n'"))
    await notifier.send(make_message())
    assert sink.mails[0]["Subject"] == "[RELAY] 2 alerts"


async def test_broken_subject_template_falls_back(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
    metrics: Any,
) -> None:
    sink = Sink()
    notifier = notifier_for(email_yaml(smtp_server(sink), subject="'{{ no_such_thing.attr.deeper }}'"))
    await notifier.send(make_message())
    assert sink.mails[0]["Subject"].strip()
    assert metrics.template_errors.labels(template="email.subject")._value.get() == 1


async def test_custom_headers_are_literal(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    sink = Sink()
    notifier = notifier_for(
        email_yaml(smtp_server(sink), headers="{X-Team: '{{ not rendered }}', Reply-To: oncall@example.com}")
    )
    await notifier.send(make_message())
    mail = sink.mails[0]
    assert mail["X-Team"] == "{{ not rendered }}"
    assert mail["Reply-To"] == "oncall@example.com"


@pytest.mark.parametrize("header", ["Message-ID", "References", "Content-Type", "Bad Name"])
def test_reserved_or_invalid_headers_are_config_errors(config_for: Callable[..., Any], header: str) -> None:
    with pytest.raises(ConfigError, match=r"receivers\[0\]\.email_configs\[0\]\.headers"):
        config_for(email_yaml(25, headers=f"{{'{header}': x}}"))


def test_implicit_tls_follows_port_465_unless_set(config_for: Callable[..., Any]) -> None:
    def cfg(port: int, **extra: str) -> EmailConfig:
        return config_for(email_yaml(port, **extra)).receivers[0].email_configs[0]  # type: ignore[no-any-return]

    assert cfg(465).implicit_tls is True
    assert cfg(587).implicit_tls is False
    assert cfg(465, tls="false").implicit_tls is False
    assert cfg(2525, tls="true").implicit_tls is True


async def test_connection_refused_is_retryable(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = notifier_for(email_yaml(port))

    with pytest.raises(RetryableError) as caught:
        await notifier.send(make_message())
    assert caught.value.reason == "connect"


async def test_silent_server_times_out_retryably(
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # hold the connection open without a greeting
        writer.close()

    server = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    notifier = notifier_for(email_yaml(port).replace("timeout: 5s", "timeout: 200ms"))
    try:
        with pytest.raises(RetryableError) as caught:
            await notifier.send(make_message())
    finally:
        server.close()
    assert caught.value.reason == "timeout"


# -- STARTTLS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def starttls_port(smtp_server: Callable[..., int], self_signed: tuple[Path, Path]) -> int:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    return smtp_server(Sink(), tls_context=context, require_starttls=True)


async def test_starttls_with_verification_skipped_delivers(
    starttls_port: int,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    notifier = notifier_for(
        email_yaml(starttls_port).replace(
            "require_tls: false", "require_tls: true\n            tls_insecure_skip_verify: true"
        )
    )
    assert isinstance(notifier, EmailNotifier)

    delivery = await notifier.send(make_message())
    assert delivery.data["message_id"].startswith("<")


async def test_starttls_with_untrusted_certificate_is_permanent(
    starttls_port: int,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    notifier = notifier_for(email_yaml(starttls_port).replace("require_tls: false", "require_tls: true"))

    with pytest.raises(PermanentError) as caught:
        await notifier.send(make_message())
    assert caught.value.reason == "tls_verify"
    assert "certificate" in caught.value.message


async def test_plain_connection_refused_by_starttls_only_server(
    starttls_port: int,
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    """require_tls: false against a server that insists on STARTTLS: its 530 is final."""
    notifier = notifier_for(email_yaml(starttls_port))

    with pytest.raises(PermanentError) as caught:
        await notifier.send(make_message())
    assert caught.value.reason == "smtp_530"


async def test_require_tls_without_starttls_offered_is_permanent(
    smtp_server: Callable[..., int],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    notifier = notifier_for(
        email_yaml(smtp_server(Sink())).replace("require_tls: false", "require_tls: true")
    )

    with pytest.raises(PermanentError) as caught:
        await notifier.send(make_message())
    assert caught.value.reason == "smtp_unsupported"
    assert "STARTTLS" in caught.value.message


async def test_implicit_tls_delivers(
    smtp_server: Callable[..., int],
    self_signed: tuple[Path, Path],
    notifier_for: Callable[..., Notifier],
    make_message: Callable[..., Message],
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)
    sink = Sink()
    port = smtp_server(sink, ssl_context=context)
    notifier = notifier_for(email_yaml(port, tls="true", tls_insecure_skip_verify="true"))

    await notifier.send(make_message())
    assert len(sink.mails) == 1
