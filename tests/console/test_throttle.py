"""The sign-in throttle alone: waits grow and are capped, old failures are forgotten,
and the clients it remembers are bounded."""

from __future__ import annotations

from relay.web.console.throttle import FREE_FAILURES, LONGEST_WAIT, MOST_CLIENTS, WINDOW, LoginThrottle


def test_waits_double_after_the_free_tries_and_stop_at_a_minute() -> None:
    throttle = LoginThrottle()
    waits = []
    for _ in range(FREE_FAILURES + 10):
        waits.append(throttle.wait("a", 0.0))
        throttle.failed("a", 0.0)
    assert waits[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert waits[FREE_FAILURES : FREE_FAILURES + 3] == [1.0, 2.0, 4.0]
    assert max(waits) == LONGEST_WAIT


def test_failures_older_than_the_window_are_forgotten() -> None:
    throttle = LoginThrottle()
    for _ in range(FREE_FAILURES + 3):
        throttle.failed("a", 0.0)
    assert throttle.wait("a", 1.0) > 0
    assert throttle.wait("a", WINDOW + 1) == 0.0
    throttle.failed("a", WINDOW + 1)
    assert throttle.wait("a", WINDOW + 1) == 0.0  # counting starts again


def test_it_remembers_at_most_so_many_clients() -> None:
    throttle = LoginThrottle()
    for n in range(MOST_CLIENTS + 50):
        throttle.failed(f"10.0.{n // 256}.{n % 256}", 0.0)
    assert len(throttle._clients) == MOST_CLIENTS
    assert "10.0.0.0" not in throttle._clients  # the oldest went first
