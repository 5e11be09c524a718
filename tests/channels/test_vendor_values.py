"""A URL or key of one vendor in another vendor's field is refused with where it belongs.

The class of mistake: robot URLs and keys look alike, and "starts with https://" lets
any of them through. Every channel field that takes a vendor's value is tried with every
other vendor's value, so a channel added later is covered by its ``vendor_fields``.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from relay.channels import CHANNELS
from relay.channels.vendors import VENDOR_KINDS, misplaced, owner_of_key, owner_of_url
from relay.config import parse_config
from relay.core.errors import ConfigError

HEX64 = "0123456789abcdef" * 4
UUID = "693a91f6-7aaa-4bc4-97a0-0ec2a1fa5aaa"

#: One value of each shape a vendor hands out, with its vendor.
SAMPLES: list[tuple[str, str]] = [
    ("wecom", f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={UUID}"),
    ("dingtalk", f"https://oapi.dingtalk.com/robot/send?access_token={HEX64}"),
    ("feishu", f"https://open.feishu.cn/open-apis/bot/v2/hook/{UUID}"),
    ("feishu", f"https://open.larksuite.com/open-apis/bot/v2/hook/{UUID}"),
    ("slack", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    (
        "msteams",
        "https://prod-00.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x",
    ),
    ("msteams", "https://example.webhook.office.com/webhookb2/abc"),
    ("telegram", "https://api.telegram.org/bot123456789:AAH/sendMessage"),
    ("dingtalk", "SEC" + HEX64),
    ("dingtalk", HEX64),
    ("wecom", UUID),
    ("telegram", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"),
    ("slack", "xoxb-1234-5678-abcdefghijkl"),
    ("aliyun", "LTAI5tAbCdEfGhIjKlMnOpQr"),
    ("tencent", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"),
    ("twilio", "AC" + "0123456789abcdef" * 2),
]

#: (kind, field) of every channel field that takes a vendor's URL or key.
VENDOR_FIELDS = [(c.kind, f) for c in CHANNELS for f in c.config.vendor_fields]


def test_every_sample_is_recognised_as_its_vendors() -> None:
    for vendor, value in SAMPLES:
        owner = owner_of_url(value) if "://" in value else owner_of_key(value)
        assert owner is not None and owner.vendor == vendor, value


def test_the_robot_channels_declare_their_vendor_fields() -> None:
    kinds = {kind for kind, _ in VENDOR_FIELDS}
    assert {k for ks in VENDOR_KINDS.values() for k in ks} <= kinds


@pytest.mark.parametrize(("kind", "field"), VENDOR_FIELDS)
def test_another_vendors_value_is_refused_with_where_it_belongs(kind: str, field: str) -> None:
    channel = next(c for c in CHANNELS if c.kind == kind)
    for vendor, value in SAMPLES:
        if kind in VENDOR_KINDS[vendor] or (field.endswith("url") and "://" not in value):
            continue
        settings: dict[str, Any] = {**channel.preview_settings, field: value}
        with pytest.raises(ValidationError) as caught:
            channel.config.model_validate(settings)
        text = " | ".join(e["msg"] for e in caught.value.errors(include_input=False))
        assert "it belongs in" in text and f"not in {kind}_configs" in text, (kind, field, value, text)
        secret = value.rsplit("/", 1)[-1].split("=")[-1]
        assert secret not in text, "the message echoes the secret"


def test_a_value_of_the_same_vendor_in_the_wrong_field_names_the_right_one() -> None:
    assert misplaced("dingtalk", "access_token", "SEC" + HEX64) == (
        "looks like a DingTalk robot's 加签 secret (SEC...), not its access_token: set it as secret"
    )
    assert misplaced("dingtalk", "secret", HEX64) is not None
    assert "set it as access_token" in (misplaced("dingtalk", "secret", HEX64) or "")


def test_own_values_unknown_hosts_and_free_form_secrets_pass() -> None:
    assert misplaced("wecom", "key", UUID) is None
    assert misplaced("dingtalk", "access_token", HEX64) is None
    assert misplaced("dingtalk", "secret", "SEC" + HEX64) is None
    assert misplaced("feishu", "webhook_url", "https://alerts-proxy.internal/feishu") is None
    assert misplaced("wecom", "webhook_url", "http://127.0.0.1:8080/cgi-bin/webhook/send?key=x") is None
    # A WeCom application's callback token is the operator's choice, any shape.
    assert misplaced("wecom_app", "api_secret", UUID) is None


def test_check_config_names_each_misplaced_value() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            f"""
route: {{receiver: a}}
receivers:
  - name: a
    wecom_configs:
      - webhook_url: https://oapi.dingtalk.com/robot/send?access_token={HEX64}
    dingtalk_configs:
      - access_token: SEC{HEX64}
    feishu_configs:
      - webhook_url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={UUID}
""",
            env={},
        )
    assert sorted(caught.value.problems) == sorted(
        [
            "receivers[0].wecom_configs[0].webhook_url: is a DingTalk robot URL: it belongs in "
            "dingtalk_configs[].webhook_url, not in wecom_configs",
            "receivers[0].dingtalk_configs[0].access_token: looks like a DingTalk robot's 加签 secret "
            "(SEC...), not its access_token: set it as secret",
            "receivers[0].feishu_configs[0].webhook_url: is a WeCom group robot URL: it belongs in "
            "wecom_configs[].webhook_url, not in feishu_configs",
        ]
    )


def test_the_vendors_own_host_over_http_is_refused() -> None:
    channel = next(c for c in CHANNELS if c.kind == "wecom")
    with pytest.raises(ValidationError, match="over http://: use https://"):
        channel.config.model_validate(
            {"webhook_url": f"http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={UUID}"}
        )
    # A proxy or a test sink inside the network may speak plain http.
    channel.config.model_validate({"webhook_url": "http://relay-proxy:8080/cgi-bin/webhook/send?key=abc"})


def test_the_generic_webhook_warns_on_a_robot_url_without_a_body_template() -> None:
    channel = next(c for c in CHANNELS if c.kind == "webhook")
    plain = channel.config.model_validate(
        {"url": f"https://oapi.dingtalk.com/robot/send?access_token={HEX64}"}
    )
    assert "use dingtalk_configs[].webhook_url" in plain.config_warnings()[0][1]  # type: ignore[attr-defined]
    templated = channel.config.model_validate(
        {"url": f"https://oapi.dingtalk.com/robot/send?access_token={HEX64}", "body_template": "{}"}
    )
    assert templated.config_warnings() == []  # type: ignore[attr-defined]
