"""Templates written by operators cannot exhaust relay: a rendering that would build more
than MAX_OUTPUT_CHARS, loop past MAX_RANGE_STEPS or run past MAX_RENDER_SECONDS fails with
a clear error, that template falls back to the built-in, and the process stays small.

The bounds are checked by what the rendering builds (characters, steps) and, for time,
by a deadline the renderer itself keeps; the test only requires an answer within a
generous limit, so a slow machine does not fail it.
"""

from __future__ import annotations

import logging
import resource
import time

import pytest

from relay.obs.metrics import Metrics
from relay.templating.sandbox import MAX_OUTPUT_CHARS
from tests.test_templating import errors, make_renderer, notification

HOSTILE = {
    "center": "{{ 'a' | center(300000000) }}",
    "indent": "{{ 'a\nb' | indent(300000000) }}",
    "method": "{{ 'a'.center(300000000) }}",
    "ljust": "{{ 'a'.ljust(300000000) }}",
    "format-method": "{{ '{:>300000000}'.format('a') }}",
    "percent": "{{ '%300000000s' % 'a' }}",
    "replace-growth": "{% set ns = namespace(s='aaaaaaaaaa') %}{% for i in range(12) %}"
    "{% set ns.s = ns.s.replace('a', 'aaaaaaaaaa') %}{% endfor %}{{ ns.s | length }}",
    "nested-range": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x",
    "nested-output": "{% for i in range(100000) %}{% for j in range(100000) %}ab{% endfor %}{% endfor %}",
    "join-growth": "{{ (['x' * 100000] * 100) | join('') }}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_costly_template_fails_fast_and_falls_back(name: str, caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    renderer = make_renderer(metrics=metrics)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="relay.templating"):
        text = renderer.render_string(HOSTILE[name], notification(), locale="en", fallback="email.subject")
    assert time.monotonic() - started < 30  # hours without the bounds; the deadline is 2 s
    assert text == "[FIRING:1] DiskFull"  # the built-in subject
    assert errors(metrics, "email.subject") == 1
    assert "TemplateTooCostly" in caplog.text or "SecurityError" in caplog.text, caplog.text
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200_000  # 300 MB strings were built before


def test_a_big_but_bounded_output_still_renders() -> None:
    size = MAX_OUTPUT_CHARS // 2
    text = make_renderer().render_string(
        "{% for i in range(" + str(size // 1000) + ") %}" + "x" * 1000 + "{% endfor %}",
        notification(),
        locale="en",
        fallback="webhook.body",
    )
    assert len(text) == size // 1000 * 1000


def test_a_slow_template_without_output_or_range_is_stopped_at_its_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two loops over 3,000 alerts that output nothing: no check of the output or of
    range() runs; the watchdog stops it at the deadline, and the next rendering in the
    same thread is not hit by a late interrupt."""
    from tests.test_templating import alert

    many = notification(*[alert(labels={"instance": f"h{i}"}) for i in range(3000)])
    slow = (
        "{% for a in alerts %}{% for b in alerts %}"
        "{% if a.labels.instance == b.labels.instance %}{% endif %}"
        "{% endfor %}{% endfor %}x"
    )
    metrics = Metrics()
    renderer = make_renderer(metrics=metrics)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="relay.templating"):
        text = renderer.render_string(slow, many, locale="en", fallback="email.subject")
    assert time.monotonic() - started < 30
    assert text.startswith("[FIRING:3000]")
    assert "longer than 2s" in caplog.text
    for _ in range(50):  # quick renderings right after: none of them interrupted
        assert renderer.render_string("{{ status }}", many, locale="en", fallback="email.subject") == "firing"
