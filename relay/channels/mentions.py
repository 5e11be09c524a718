"""Who a robot message @-mentions: the config's lists, then values of an alert label.

WeCom, DingTalk and Feishu let a label (``mention_label: oncall``) name the people to
wake: its value is split at spaces, commas, semicolons and bars, and each item is sorted
by the channel (a mobile, a user id, or nothing: "@all" is honoured only from config).
Only firing alerts mention anyone; a notification with nothing firing mentions nobody.
A value that is the name of someone in ``people:`` mentions that person by their address
on the channel (``ids.wecom``, ``ids.dingtalk``, ``ids.feishu``). So does an escalation
step's page: each person it names who has an address on the channel (the others are
named in the message's text, by the templates' escalation line).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from relay.core.alerts import Notification

_SPLIT = re.compile(r"[\s,;|]+")


def mentions(
    n: Notification,
    label: str | None,
    classify: Callable[[str], int | None],
    *static: Sequence[str],
    people: Mapping[str, str] | None = None,
) -> list[list[str]]:
    """One list per kind of mention, each without repeats: ``static[k]`` first, then the
    items of ``label`` on the firing alerts for which ``classify(item)`` is ``k`` (None:
    not a mention). An item that names a person of ``people:`` (``people``: name -> their
    address on this channel) mentions that address. All empty when no alert is firing."""
    found = [list(given) for given in static] if n.firing else [[] for _ in static]
    directory = people or {}
    for person in n.escalation.people if n.escalation is not None and n.firing else ():
        address = directory.get(person)
        kind = classify(address) if address is not None else None
        if address is not None and kind is not None:
            found[kind].append(address)
    for alert in n.firing if label else ():
        for named in _SPLIT.split(alert.labels.get(label or "", "")):
            item = directory.get(named, named)
            kind = classify(item)
            if kind is not None:
                found[kind].append(item)
    return [list(dict.fromkeys(names)) for names in found]
