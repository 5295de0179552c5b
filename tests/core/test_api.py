"""The Python API as LiveKit uses it: usage metrics per model and provider, prewarm, README's example."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeProvider, WSProvider, frames, speech
from livekit.agents.metrics import ModelUsageCollector

import speechkit
from speechkit import registry

ROOT = Path(__file__).resolve().parents[2]
AUDIO_S = len(speech([[1, 2], [3]])) / 16000


@pytest.fixture(autouse=True)
def fakes_registered() -> Iterator[None]:
    registry.register(FakeProvider)
    registry.register(WSProvider)
    yield
    registry._runtime.clear()


async def test_a_stream_gives_one_stt_usage_entry_with_model_and_provider() -> None:
    stt = speechkit.stt("fake")
    usage = ModelUsageCollector()
    stt.on("metrics_collected", usage.collect)
    stream = stt.stream()
    for frame in frames(speech([[1, 2], [3]])):
        stream.push_frame(frame)
    stream.end_input()
    async for _ in stream:
        pass
    await stt.aclose()
    [entry] = usage.flatten()  # no phantom entry without provider or model
    assert (entry.provider, entry.model) == ("fake", "level")
    assert entry.audio_duration == pytest.approx(AUDIO_S)


async def test_recognize_counts_the_audio_once() -> None:
    stt = speechkit.stt("fake")
    usage = ModelUsageCollector()
    stt.on("metrics_collected", usage.collect)
    event = await stt.recognize(frames(speech([[1, 2], [3]])))
    await stt.aclose()
    assert event.alternatives[0].text == "w1 w2 w3"
    [entry] = usage.flatten()
    assert (entry.provider, entry.model) == ("fake", "level")
    assert entry.audio_duration == pytest.approx(AUDIO_S)


async def test_prewarm_opens_the_http_session_of_a_network_provider() -> None:
    stt = speechkit.stt("fakews?api_key=good&base_url=http://127.0.0.1:9")
    assert stt._http is None
    stt.prewarm()
    assert stt._http is not None and not stt._http.closed
    await stt.aclose()


@pytest.mark.slow
def test_prewarm_loads_the_local_model_in_the_background() -> None:
    from speechkit_providers.local.models import SharedModel

    stt = speechkit.stt("local")
    key = (str(stt.hooks.model_path.resolve()), "int8")  # type: ignore[attr-defined]
    SharedModel._cache.pop(key, None)
    t0 = time.monotonic()
    stt.prewarm()
    assert time.monotonic() - t0 < 0.5  # it does not block the caller
    deadline = time.monotonic() + 120
    while key not in SharedModel._cache and time.monotonic() < deadline:
        time.sleep(0.05)
    assert key in SharedModel._cache
