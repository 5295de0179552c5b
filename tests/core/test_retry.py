"""Retry classification and backoff: the in-process fake for scripted failures, and a
real aiohttp WebSocket server on 127.0.0.1 for handshake statuses and close codes."""

from __future__ import annotations

import random
import time

import pytest
from fakes import (
    FakeOptions,
    FakeProvider,
    WSOptions,
    WSProvider,
    WSServerPlan,
    frames,
    speech,
    start_ws_server,
)
from livekit.agents import APIConnectOptions, APIError, stt

import speechkit
from speechkit.retry import FIRST_RETRY_DELAY, MAX_BACKOFF, RetryPolicy, backoff

E = stt.SpeechEventType
FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)


async def transcribe(engine: speechkit.STT, conn: APIConnectOptions = FAST) -> list[str]:
    stream = engine.stream(conn_options=conn)
    for f in frames(speech([[1, 2], [3]])):
        stream.push_frame(f)
    stream.end_input()
    try:
        return [e.alternatives[0].text async for e in stream if e.type == E.FINAL_TRANSCRIPT]
    finally:
        await stream.aclose()


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    assert backoff(1, 2.0, rng) == FIRST_RETRY_DELAY
    for n, base in [(2, 2.0), (3, 4.0), (4, 8.0), (12, MAX_BACKOFF)]:
        delays = [backoff(n, 2.0, rng) for _ in range(200)]
        assert base * 0.5 <= min(delays) and max(delays) <= base
        assert max(delays) - min(delays) > base * 0.3  # jittered, not fixed


async def test_a_final_resets_the_retry_budget() -> None:
    policy = RetryPolicy(APIConnectOptions(max_retry=2, retry_interval=0.0))
    script = ["fail", "fail", "final", "fail", "fail", "ok"]
    attempts = 0
    async for attempt in policy.attempts():
        with attempt:
            attempts += 1
            step = script.pop(0)
            while step == "final":
                policy.succeeded()
                step = script.pop(0)
            if step == "fail":
                raise speechkit.ServerError("boom")
    assert attempts == 5  # two failures, then (after a final) two more, then success


async def test_retryable_connect_failures_are_retried_until_success() -> None:
    provider = FakeProvider(FakeOptions(fail_connects=2))
    assert await transcribe(speechkit.STT(provider)) == ["w1 w2", "w3"]
    assert provider.connects == 3


async def test_retries_stop_after_max_retry() -> None:
    provider = FakeProvider(FakeOptions(fail_connects=10))
    with pytest.raises(APIError):
        await transcribe(speechkit.STT(provider), APIConnectOptions(max_retry=2, retry_interval=0.01))
    assert provider.connects == 3


async def test_bad_credentials_fail_at_once_and_say_why() -> None:
    provider = FakeProvider(FakeOptions(auth_fail=True))
    with pytest.raises(speechkit.AuthenticationError, match="FAKE_API_KEY"):
        await transcribe(speechkit.STT(provider))
    assert provider.connects == 1


async def test_retry_after_is_honoured() -> None:
    provider = FakeProvider(FakeOptions(fail_connects=1, retry_after=0.4))
    t0 = time.monotonic()
    await transcribe(speechkit.STT(provider))
    assert time.monotonic() - t0 >= 0.4


# -- a real WebSocket server on loopback ---------------------------------------------


@pytest.fixture
async def ws_server():
    plans: list[object] = []

    async def start(plan: WSServerPlan, key: str = "good") -> tuple[speechkit.STT, WSServerPlan]:
        runner, url = await start_ws_server(plan)
        plans.append(runner)
        return speechkit.STT(WSProvider(WSOptions(base_url=url, api_key=key))), plan

    yield start
    for runner in plans:
        await runner.cleanup()  # type: ignore[attr-defined]


async def test_websocket_provider_transcribes_over_loopback(ws_server) -> None:
    engine, _ = await ws_server(WSServerPlan())
    assert await transcribe(engine) == ["w1 w2", "w3"]
    await engine.aclose()


async def test_handshake_401_is_an_authentication_error_naming_the_key(ws_server) -> None:
    engine, plan = await ws_server(WSServerPlan(), key="wrong")
    with pytest.raises(speechkit.AuthenticationError, match="FAKEWS_API_KEY"):
        await transcribe(engine)
    assert plan.connects == 1
    await engine.aclose()


async def test_handshake_503_is_retried(ws_server) -> None:
    engine, plan = await ws_server(WSServerPlan(refuse_first=2))
    assert await transcribe(engine) == ["w1 w2", "w3"]
    assert plan.connects == 3
    await engine.aclose()


async def test_handshake_429_waits_for_retry_after(ws_server) -> None:
    engine, plan = await ws_server(WSServerPlan(status=429, retry_after="0.3"))
    t0 = time.monotonic()
    with pytest.raises(APIError):
        await transcribe(engine, APIConnectOptions(max_retry=1, retry_interval=0.01))
    assert plan.connects == 2 and time.monotonic() - t0 >= 0.3
    await engine.aclose()


async def test_a_vendor_error_frame_becomes_a_classified_api_error(ws_server) -> None:
    engine, plan = await ws_server(WSServerPlan(error_frame={"error": "bad sample rate", "retryable": False}))
    with pytest.raises(APIError, match="bad sample rate") as info:
        await transcribe(engine)
    assert info.value.retryable is False and plan.connects == 1
    await engine.aclose()


async def test_an_unexpected_close_code_is_retried(ws_server) -> None:
    engine, plan = await ws_server(WSServerPlan(close_code=1011))
    with pytest.raises(APIError):
        await transcribe(engine, APIConnectOptions(max_retry=2, retry_interval=0.01))
    assert plan.connects == 3
    await engine.aclose()
