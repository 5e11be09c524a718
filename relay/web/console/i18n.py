"""The console's words in English and Simplified Chinese, and which one a request gets.

One table, each entry in both languages side by side, so a new string cannot be added to
one language only (tests/console/test_i18n.py checks that every key a template uses is
here). The default language is ``global.locale``; ``?lang=`` switches and is remembered
in a cookie.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES: dict[str, str] = {"en": "English", "zh-CN": "简体中文"}
LANG_COOKIE = "relay_lang"

#: key -> (English, Simplified Chinese). Placeholders are str.format fields.
MESSAGES: dict[str, tuple[str, str]] = {
    # frame
    "skip": ("Skip to content", "跳到正文"),
    "nav.label": ("Console sections", "控制台导航"),
    "nav.overview": ("Overview", "总览"),
    "nav.notifications": ("Notifications", "通知记录"),
    "nav.groups": ("Groups", "告警分组"),
    "nav.playground": ("Templates", "模板调试"),
    "nav.routes": ("Routes", "路由"),
    "nav.config": ("Config", "配置"),
    "language": ("Language", "语言"),
    "signed_in_as": ("Signed in as {actor}", "当前用户：{actor}"),
    "sign_out": ("Sign out", "退出登录"),
    "read_only_banner": (
        "Read-only console: retry, resend and test sends are turned off (server.ui.read_only).",
        "只读模式：重试、重发和测试发送已关闭（server.ui.read_only）。",
    ),
    "read_only_button": ("Turned off: the console is read-only", "只读模式下不可用"),
    "footer": ("relay {version}", "relay {version}"),
    "none": ("none", "无"),
    "never": ("never", "从未"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "ago": ("{span} ago", "{span}前"),
    "in": ("in {span}", "{span}后"),
    "now": ("now", "刚刚"),
    "unit.s": ("{n}s", "{n} 秒"),
    "unit.m": ("{n}m", "{n} 分钟"),
    "unit.h": ("{n}h", "{n} 小时"),
    "unit.d": ("{n}d", "{n} 天"),
    "next_page": ("Older →", "更早 →"),
    "first_page": ("← Newest", "← 最新"),
    "no_more": ("End of the list.", "已到末尾。"),
    "apply": ("Apply", "应用"),
    "clear": ("Clear", "清除"),
    "any": ("any", "全部"),
    "details": ("Details", "详情"),
    "copy_hint": (
        "Exactly as sent, secrets replaced by <redacted>.",
        "与实际发送内容一致，密钥已替换为 <redacted>。",
    ),
    # login
    "login.title": ("Sign in", "登录"),
    "login.intro_bearer": (
        "This relay requires its API token (server.auth.bearer_token). "
        "Your name is written in the action log next to what you do.",
        "此 relay 需要 API 令牌（server.auth.bearer_token）登录。你填写的名字会记录在操作日志中。",
    ),
    "login.intro_basic": (
        "Sign in with the user and password of server.auth.basic_auth.",
        "请使用 server.auth.basic_auth 中配置的用户名和密码登录。",
    ),
    "login.name": ("Your name", "你的名字"),
    "login.user": ("User", "用户名"),
    "login.token": ("Token", "令牌"),
    "login.password": ("Password", "密码"),
    "login.submit": ("Sign in", "登录"),
    "login.failed": ("Wrong credentials.", "凭据错误。"),
    # errors
    "error.title": ("Error", "出错了"),
    "error.404": ("Not found.", "未找到。"),
    "error.403_csrf": (
        "The form has expired (CSRF token missing or wrong). Reload the page and try again.",
        "表单已失效（CSRF 令牌缺失或不匹配），请刷新页面后重试。",
    ),
    "error.403_read_only": (
        "The console is read-only (server.ui.read_only).",
        "控制台为只读模式（server.ui.read_only）。",
    ),
    "error.form_type": (
        "Expected a form post (application/x-www-form-urlencoded).",
        "应以表单方式提交（application/x-www-form-urlencoded）。",
    ),
    "error.form_size": (
        "The form is larger than server.max_body_bytes.",
        "表单内容超过 server.max_body_bytes 限制。",
    ),
    "error.503": ("Storage is unavailable: {detail}", "存储不可用：{detail}"),
    "error.429_login": (
        "Too many wrong sign-ins from here: try again in {seconds} s.",
        "此处登录失败次数过多：请 {seconds} 秒后再试。",
    ),
    "error.back": ("Back to the overview", "返回总览"),
    # overview
    "overview.title": ("Overview", "总览"),
    "overview.refresh": ("Refreshes every 5 seconds.", "每 5 秒自动刷新。"),
    "overview.config": ("Config", "配置"),
    "overview.config_source": ("Source", "来源"),
    "overview.config_hash": ("Hash", "哈希"),
    "overview.loaded_at": ("Loaded", "加载时间"),
    "overview.reload_ok": ("Last reload succeeded", "最近一次重载成功"),
    "overview.config_warnings": ("Accepted, but likely not what was meant:", "配置可用，但可能与本意不符："),
    "overview.reload_failed": (
        "Last reload failed; the previous config is still in use:",
        "最近一次重载失败，仍在使用之前的配置：",
    ),
    "overview.storage": ("Storage", "存储"),
    "overview.reachable": ("reachable", "可访问"),
    "overview.unreachable": ("unreachable", "不可访问"),
    "overview.queue": ("Queue", "队列"),
    "overview.oncall": ("On call", "值班"),
    "overview.schedule": ("Schedule", "排班"),
    "overview.oncall_now": ("Now", "当前值班"),
    "overview.oncall_until": ("Until", "值班至"),
    "overview.oncall_next": ("Next", "下一位"),
    "overview.nobody": ("nobody", "无人值班"),
    "overview.calendar": ("calendar", "日历订阅"),
    "overview.rotation": ("rotation {n}", "第 {n} 层轮值"),
    "overview.override_by": ("override by {by}", "{by} 调班"),
    "overview.receiver": ("Receiver {name}", "接收器 {name}"),
    "overview.integration": ("Integration", "集成"),
    "overview.health": ("Health", "状态"),
    "overview.last": ("Last outcome", "最近结果"),
    "overview.hour": ("Last hour", "近 1 小时"),
    "overview.day": ("Last day", "近 24 小时"),
    "overview.delivered_failed": ("{delivered} sent, {failed} failed", "成功 {delivered}，失败 {failed}"),
    "overview.queued": ("Queued", "排队"),
    "overview.oldest": ("Oldest pending", "最早待发"),
    "overview.dead": ("Dead", "死信"),
    "overview.rate": ("Rate limit", "限流"),
    "overview.rate_window": ("{used}/{limit} per {per}", "{used}/{limit}（每 {per}）"),
    "overview.rate_blocked": ("the destination asked to wait {span}", "下游要求暂停 {span}"),
    "overview.rate_next": ("next free {when}", "{when}可再发送"),
    "overview.no_integrations": ("No integrations.", "没有集成。"),
    "health.ok": ("ok", "正常"),
    "health.failing": ("failing", "失败"),
    "health.idle": ("idle", "空闲"),
    # statuses and outcomes
    "status.pending": ("pending", "待发送"),
    "status.retrying": ("retrying", "重试中"),
    "status.running": ("sending", "发送中"),
    "status.delivered": ("delivered", "已送达"),
    "status.dead": ("dead", "死信"),
    "outcome.delivered": ("delivered", "已送达"),
    "outcome.retry": ("failed, will retry", "失败，将重试"),
    "outcome.dead": ("failed, dead", "失败，已进入死信"),
    "alert.firing": ("firing", "告警中"),
    "alert.resolved": ("resolved", "已恢复"),
    # notifications
    "notifications.title": ("Notifications", "通知记录"),
    "notifications.filters": ("Filters", "筛选"),
    "notifications.status": ("Status", "状态"),
    "notifications.receiver": ("Receiver", "接收器"),
    "notifications.integration": ("Integration", "集成"),
    "notifications.alertname": ("Alert name", "告警名称"),
    "notifications.group": ("Group key", "分组键"),
    "notifications.since": ("Created after", "创建时间晚于"),
    "notifications.until": ("Created before", "创建时间早于"),
    "notifications.created": ("Created", "创建时间"),
    "notifications.alerts": ("Alerts", "告警"),
    "notifications.attempts": ("Attempts", "尝试次数"),
    "notifications.last_error": ("Last error", "最近错误"),
    "notifications.acked": ("acknowledged by {by}", "{by} 已确认"),
    "notifications.empty": ("No notifications match.", "没有符合条件的通知。"),
    "notifications.time_hint": ("Times are in {zone}.", "时间按 {zone} 时区。"),
    # one notification
    "notification.title": ("Notification {id}", "通知 {id}"),
    "notification.summary": ("Summary", "概要"),
    "notification.group": ("Group", "分组"),
    "notification.finished": ("Finished", "结束时间"),
    "notification.next_attempt": ("Next attempt", "下次尝试"),
    "notification.as_sent": ("Message as sent", "实际发送的消息"),
    "notification.part": ("Part {n} of {total}", "第 {n}/{total} 部分"),
    "notification.not_sent": ("Not sent yet: no attempt has been made.", "尚未发送：还没有发送尝试。"),
    "notification.no_copy": (
        "relay kept no copy of what these attempts sent.",
        "relay 没有保存这些尝试发送的内容。",
    ),
    "notification.render_here": ("Render its alerts in the template playground", "在模板调试中渲染这些告警"),
    "notification.attempts": ("Attempts", "发送尝试"),
    "notification.attempt_at": ("Time", "时间"),
    "notification.duration": ("Duration", "耗时"),
    "notification.outcome": ("Outcome", "结果"),
    "notification.reason": ("Reason", "原因"),
    "notification.answer": ("Downstream answer", "下游返回"),
    "notification.sent_parts": ("What this attempt sent", "本次尝试发送的内容"),
    "notification.actions": ("Actions", "操作记录"),
    "notification.action_by": ("{action} by {by}", "{by} 执行了{action}"),
    "notification.action.retry": ("retry", "重试"),
    "notification.action.resend": ("resend", "重发"),
    "notification.action.resent_from": ("resent from", "重发自"),
    "notification.retry": ("Retry", "重试"),
    "notification.retry_help": (
        "Queues this dead notification again with a fresh retry window.",
        "将此死信重新排队，并重新开始重试计时。",
    ),
    "notification.resend": ("Resend", "重发"),
    "notification.resend_help": (
        "Sends this delivered notification once more, as a new notification.",
        "将这条已送达的通知作为一条新通知再发送一次。",
    ),
    "notification.retried": (
        "Queued again. It is sent as soon as a worker is free.",
        "已重新排队，将尽快发送。",
    ),
    "notification.resent": ("Resent as notification {id}.", "已重发，新通知为 {id}。"),
    "notification.payload": ("Notification data (alerts, labels)", "通知数据（告警、标签）"),
    "notification.digest": ("Digest", "摘要"),
    "notification.part_of_digest": ("Delivered as part of digest", "已作为摘要的一部分送达："),
    "notification.digest_gone": ("(no longer kept)", "（已不再保存）"),
    "notification.digest_summary": (
        "{kind} digest: {groups} groups, {firing} firing, {resolved} resolved",
        "{kind}摘要：{groups} 个分组，{firing} 条告警中，{resolved} 条已恢复",
    ),
    "notification.digest_merges": ("Merges {n} notifications:", "合并了 {n} 条通知："),
    "notification.digest_more": ("and {n} more", "另有 {n} 条"),
    "notification.digest_no_playground": (
        "A digest is rendered from its groups, not from alerts: the playground cannot show it.",
        "摘要由分组生成而非由告警生成，模板调试无法展示。",
    ),
    "digest.kind.storm": ("Storm", "告警风暴"),
    "digest.kind.hold": ("Quiet-hours", "免打扰时段"),
    # groups
    "groups.title": ("Groups", "告警分组"),
    "groups.labels": ("Group labels", "分组标签"),
    "groups.alerts": ("Alerts", "告警"),
    "groups.firing": ("{firing} of {total} firing", "{firing}/{total} 条告警中"),
    "groups.updated": ("Updated", "更新时间"),
    "groups.empty": ("relay holds no groups.", "当前没有告警分组。"),
    "group.title": ("Group", "告警分组"),
    "group.key": ("Key", "分组键"),
    "group.route": ("Route", "路由"),
    "group.silence": ("Silence in Alertmanager", "在 Alertmanager 中静默"),
    "group.silence_help": (
        "Opens Alertmanager's new-silence form with these matchers:",
        "打开 Alertmanager 新建静默页面，并预填以下匹配条件：",
    ),
    "group.no_silence": (
        "No Alertmanager address: the webhook carried no externalURL.",
        "没有 Alertmanager 地址：该 Webhook 未携带 externalURL。",
    ),
    "group.alert_status": ("Status", "状态"),
    "group.alert_labels": ("Labels", "标签"),
    "group.annotations": ("Annotations", "注释"),
    "group.since": ("Since", "开始时间"),
    "group.integrations": ("Notifications per integration", "各集成的通知情况"),
    "group.last_sent": ("Last sent", "最近发送"),
    "group.repeat_due": ("Repeat due", "下次重复通知"),
    "group.last_job": ("Last notification", "最近一条通知"),
    "group.next_flush": ("Next flush", "下次发送"),
    "group.acknowledged": ("Acknowledged", "已确认"),
    "group.acknowledged_help": (
        "No repeat notification until the group's firing alerts change.",
        "在告警分组的触发告警变化之前不再重复通知。",
    ),
    "group.ack": ("Acknowledge", "确认"),
    "group.unack": ("Unacknowledge", "取消确认"),
    "group.acked_done": (
        "Acknowledged: no repeat until the group changes.",
        "已确认：分组变化前不再重复通知。",
    ),
    "group.unacked_done": ("Acknowledgement lifted: repeats are due again.", "已取消确认：将恢复重复通知。"),
    "group.held": ("Held (quiet hours)", "暂缓发送（静默时段）"),
    "group.held_until": ("until", "直到"),
    "group.escalation": ("Escalation", "升级"),
    "group.escalation_next": (
        "policy {policy}: {fired} step(s) fired, next",
        "策略 {policy}：已执行 {fired} 步，下一步",
    ),
    "group.escalation_stopped": (
        "policy {policy}: {fired} step(s) fired, stopped ({reason})",
        "策略 {policy}：已执行 {fired} 步，已停止（{reason}）",
    ),
    "group.timeline": ("Timeline", "时间线"),
    "group.timeline_when": ("When", "时间"),
    "group.timeline_what": ("What", "事件"),
    "timeline.firing": ("Firing ({alerts} alert(s))", "开始告警（{alerts} 条）"),
    "timeline.resolved": ("Resolved", "已恢复"),
    "timeline.notified": (
        "Notification queued for {integration} ({reason})",
        "已排队通知 {integration}（{reason}）",
    ),
    "timeline.escalation_started": ("Escalation {policy} started", "升级策略 {policy} 开始"),
    "timeline.escalated": (
        "Escalation step {step} (round {round}) via {receiver}",
        "升级第 {step} 步（第 {round} 轮），经 {receiver}",
    ),
    "timeline.escalation_stopped": (
        "Escalation {policy} stopped: {reason}",
        "升级策略 {policy} 停止：{reason}",
    ),
    "timeline.acknowledged": ("Acknowledged by {by} via {via}", "{by} 通过 {via} 确认"),
    "timeline.unacknowledged": ("Acknowledgement lifted", "确认已撤销"),
    "timeline.paged": ("paged", "通知到"),
    "timeline.nobody": ("nobody on call for", "无人值班："),
    # playground
    "playground.title": ("Template playground", "模板调试"),
    "playground.intro": (
        "Renders a message without sending it. Nothing leaves relay unless you press Send test.",
        "只渲染不发送。除非点击「发送测试」，否则不会向外发送任何消息。",
    ),
    "playground.target": ("Integration or channel", "集成或渠道"),
    "playground.integrations": ("Integrations of the config", "配置中的集成"),
    "playground.channels": ("Channel with default settings", "渠道（默认设置）"),
    "playground.locale": ("Template language", "模板语言"),
    "playground.locale_default": ("as configured", "按配置"),
    "playground.payload": ("Payload", "告警数据"),
    "playground.message": ("Message", "消息类型"),
    "playground.message.notification": ("Notification", "单个通知"),
    "playground.message.storm": ("Storm digest", "告警风暴汇总"),
    "playground.message.hold": ("Quiet-hours digest", "暂缓时段汇总"),
    "playground.groups": ("Digest groups", "汇总分组数"),
    "playground.send_needs_notification": (
        "Send test sends one group's notification; choose that message to send.",
        "发送测试只发送单个分组的通知，请先选择该消息类型。",
    ),
    "playground.sample": ("Built-in sample alert", "内置示例告警"),
    "playground.recent": ("A recent webhook", "最近收到的 Webhook"),
    "playground.pasted": ("Pasted JSON", "粘贴 JSON"),
    "playground.recent_none": (
        "No webhooks kept (server.ui.keep_webhooks).",
        "没有保留的 Webhook（server.ui.keep_webhooks）。",
    ),
    "playground.webhook_option": (
        "{when} · {source} · {alerts} alert(s) · {status}",
        "{when} · {source} · {alerts} 条告警 · {status}",
    ),
    "playground.readable": ("The message text", "消息正文"),
    "playground.raw": ("The request body as sent", "实际发送的请求体"),
    "playground.paste_label": ("Alertmanager webhook JSON", "Alertmanager Webhook JSON"),
    "playground.render": ("Render", "渲染"),
    "playground.send": ("Send test", "发送测试"),
    "playground.send_help": (
        "Sends this payload through the selected integration now, like relay test-alert --receiver.",
        "立即通过所选集成发送这条数据，与 relay test-alert --receiver 相同。",
    ),
    "playground.send_needs_integration": (
        "Pick an integration of the config to send a test.",
        "请选择配置中的集成再发送测试。",
    ),
    "playground.result": ("Result", "渲染结果"),
    "playground.parts": ("{n} part(s), {channel}, {locale}", "共 {n} 部分，{channel}，{locale}"),
    "playground.size": ("{size} / {limit} {unit}", "{size} / {limit} {unit}"),
    "playground.size_nolimit": ("{size} {unit}", "{size} {unit}"),
    "playground.over": ("over the vendor's limit", "超出渠道限制"),
    "playground.unit.bytes": ("bytes", "字节"),
    "playground.unit.content_bytes": ("content bytes", "内容字节"),
    "playground.unit.chars": ("characters", "字符"),
    "playground.unit.characters": ("characters", "字符"),
    "playground.unit.text_characters": ("text characters", "文本字符"),
    "playground.problems": (
        "Template problems (relay sends the built-in template instead)",
        "模板错误（实际发送时将改用内置模板）",
    ),
    "playground.sent_ok": (
        "Test sent through {integration}: {result}",
        "已通过 {integration} 发送测试：{result}",
    ),
    "playground.sent_failed": (
        "Test through {integration} failed: {result}",
        "通过 {integration} 发送测试失败：{result}",
    ),
    # routes
    "routes.title": ("Routes", "路由"),
    "routes.tree": ("Route tree", "路由树"),
    "routes.receiver": ("receiver", "接收器"),
    "routes.matchers": ("matchers", "匹配条件"),
    "routes.all": ("every alert", "所有告警"),
    "routes.group_by": ("group by", "分组依据"),
    "routes.passthrough": ("Alertmanager's groups", "沿用 Alertmanager 的分组"),
    "routes.timing": (
        "wait {wait}, interval {interval}, repeat {repeat}",
        "等待 {wait}，间隔 {interval}，重复 {repeat}",
    ),
    "routes.continue": ("continue", "继续匹配"),
    "routes.tester": ("Matcher tester", "匹配测试"),
    "routes.labels": ("Labels, one name=value per line", "标签，每行一个 name=value"),
    "routes.test": ("Test", "测试"),
    "routes.reaches": ("Reaches: {receivers}", "命中接收器：{receivers}"),
    "routes.via": ("route {id} → {receiver}", "路由 {id} → {receiver}"),
    "routes.matched": ("matched", "已命中"),
    # config
    "config.title": ("Config", "配置"),
    "config.intro": (
        "The effective config relay runs with. Every secret is shown as <secret>.",
        "relay 当前生效的配置。所有密钥均显示为 <secret>。",
    ),
}

#: English text by key, and Chinese text by key (derived from MESSAGES).
CATALOGS: dict[str, dict[str, str]] = {
    "en": {key: pair[0] for key, pair in MESSAGES.items()},
    "zh-CN": {key: pair[1] for key, pair in MESSAGES.items()},
}


def translate(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``values`` filled in; KeyError if unknown."""
    text = CATALOGS[lang][key]
    return text.format(**values) if values else text


def pick_language(query: Mapping[str, str], cookies: Mapping[str, str], default: str) -> str:
    """``?lang=`` if it names a language, else the cookie's, else ``global.locale``."""
    for candidate in (query.get("lang"), cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return default if default in LANGUAGES else "en"
