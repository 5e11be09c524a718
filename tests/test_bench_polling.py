"""The delivery benchmark's look at the sink's count must cost the machine next to
nothing: it runs every 20 ms while relay, the process measured, delivers."""

from __future__ import annotations

import httpx
import pytest

import bench.delivery
from tests.helpers.sink import Answer, Sink


def test_the_sink_is_polled_through_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # A client per look (httpx.get) builds a TLS context each time: 28 ms of CPU, which
    # polled every 20 ms took half a core from relay in the benchmark's relay rounds.
    built: list[httpx.Client] = []

    class CountedClient(httpx.Client):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            built.append(self)

    monkeypatch.setattr(httpx, "Client", CountedClient)
    monkeypatch.setattr(httpx, "get", lambda *a, **k: pytest.fail("httpx.get builds a client per call"))
    bench.delivery._poller.cache_clear()
    try:
        with Sink(Answer(body="42")) as sink:
            assert [bench.delivery.sink_count(sink.url) for _ in range(5)] == [42] * 5
        assert len(built) == 1
    finally:
        bench.delivery._poller.cache_clear()
