"""A refused WebSocket handshake keeps the vendor's reason: its error headers and its body, not
only aiohttp's "Invalid response status"; secrets stay out of it."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError
from speechkit_providers.telnyx import TelnyxOptions, TelnyxProvider

import speechkit
from speechkit.transport import refusal_reason

KEY = "sk-live-handshake-secret"
ONCE = APIConnectOptions(max_retry=0, retry_interval=0.01, timeout=5.0)


async def _refusing_server(status: int, headers: dict[str, str], body: str) -> tuple[web.AppRunner, str]:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=status, headers=headers, text=body)

    app = web.Application()
    app.router.add_get("/v2/speech-to-text/transcription", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"ws://127.0.0.1:{runner.addresses[0][1]}"


async def _refusal(status: int, headers: dict[str, str], body: str) -> APIError:
    runner, url = await _refusing_server(status, headers, body)
    engine = speechkit.STT(TelnyxProvider(TelnyxOptions(base_url=url, api_key=KEY)))
    try:
        stream = engine.stream(conn_options=ONCE)
        stream.push_frame(rtc.AudioFrame(bytes(3200), 16000, 1, 1600))
        stream.end_input()
        with pytest.raises(APIError) as caught:
            async for _ in stream:
                pass
        await stream.aclose()
    finally:
        await engine.aclose()
        await runner.cleanup()
    return caught.value


@pytest.mark.parametrize(
    ("status", "kind"), [(400, speechkit.InvalidRequestError), (401, speechkit.AuthenticationError)]
)
async def test_the_vendors_body_and_error_header_reach_the_error_message(status: int, kind: type) -> None:
    body = json.dumps({"err_code": "INVALID_QUERY", "err_msg": "sample_rate must be 8000-48000"})
    error = await _refusal(status, {"dg-error": "bad sample_rate", "X-Request-Id": "r1"}, body)
    assert isinstance(error, kind)
    message = str(error)
    assert "sample_rate must be 8000-48000" in message and "dg-error: bad sample_rate" in message
    assert "X-Request-Id" not in message  # only headers that name an error


async def test_a_key_the_server_echoes_back_is_redacted_from_the_reason() -> None:
    error = await _refusal(401, {}, f"invalid key {KEY}")
    assert KEY not in str(error) and "invalid key" in str(error)


def test_a_long_body_is_cut_and_its_whitespace_collapsed() -> None:
    reason = refusal_reason({}, b"line one\n\n   line two " + b"x" * 1000)
    assert reason.startswith("line one line two x") and len(reason) == 300 and reason.endswith("…")
