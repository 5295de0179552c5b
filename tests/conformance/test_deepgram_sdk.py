"""Deepgram's own Python SDK (PyPI ``deepgram-sdk`` 7.x, the ``conformance`` extra) against the emulator:
a client nobody here wrote must connect with its ``Token`` header, stream, and get its ``Results``,
``UtteranceEnd`` and ``Metadata`` as the SDK's own types, and a refused key as its ``ApiError``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

deepgram = pytest.importorskip("deepgram")
# the SDK's async client connects with websockets' legacy API (websockets >= 14 warns)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from deepgram.core.api_error import ApiError  # noqa: E402
from deepgram.environment import DeepgramClientEnvironment  # noqa: E402
from deepgram.listen.v1.types import (  # noqa: E402
    ListenV1Configure,
    ListenV1ConfigureFailure,
    ListenV1ConfigureSuccess,
    ListenV1Metadata,
    ListenV1Results,
    ListenV1UtteranceEnd,
)
from speechkit_conformance.emulators.deepgram import DeepgramEmulator  # noqa: E402
from speechkit_conformance.oracle import synthesize  # noqa: E402

RATE = 16000
UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]


def client(emu: DeepgramEmulator, key: str | None = None) -> Any:
    """The SDK's async client with its environment pointed at the emulator."""
    env = DeepgramClientEnvironment(
        base=f"http://127.0.0.1:{emu.port}", production=emu.url, agent="", agent_rest=""
    )
    return deepgram.AsyncDeepgramClient(api_key=key or emu.api_key, environment=env)


async def stream_with_sdk(emu: DeepgramEmulator, *, finalize: bool = False, **params: Any) -> list[Any]:
    """Connect, stream the oracle words in 50 ms chunks (a ``Finalize`` after the first utterance
    when asked), send ``CloseStream`` and collect every message until the server closes."""
    pcm = synthesize(UTTERANCES, RATE).tobytes()
    step = RATE // 20 * 2
    seen: list[Any] = []
    async with client(emu).listen.v1.connect(
        model="nova-3", encoding="linear16", sample_rate=RATE, interim_results="true", **params
    ) as socket:
        reader = asyncio.create_task(collect(socket, seen))
        for i in range(0, len(pcm), step):
            await socket.send_media(pcm[i : i + step])
            if finalize and i == 5 * step:  # 0.3 s in: after "alpha", before "bravo" (0.34 s)
                await socket.send_finalize()
        await socket.send_close_stream()
        await asyncio.wait_for(reader, 10)
    return seen


async def collect(socket: Any, seen: list[Any]) -> None:
    async for message in socket:
        seen.append(message)


def finals(seen: list[Any]) -> list[ListenV1Results]:
    return [m for m in seen if isinstance(m, ListenV1Results) and m.is_final]


async def test_the_sdk_gets_one_speech_final_result_per_utterance_then_metadata() -> None:
    async with DeepgramEmulator() as emu:
        seen = await stream_with_sdk(emu)
    texts = [f.channel.alternatives[0].transcript for f in finals(seen)]
    assert texts == ["alpha bravo", "charlie delta echo"] and all(f.speech_final for f in finals(seen))
    assert (
        isinstance(seen[-1], ListenV1Metadata)
        and abs(seen[-1].duration - len(synthesize(UTTERANCES, RATE)) / RATE) < 0.01
    )
    assert emu.sessions[0].headers["Authorization"] == f"Token {emu.api_key}"
    assert emu.sessions[0].close_code == 1000


async def test_the_sdks_words_carry_times_inside_their_result() -> None:
    async with DeepgramEmulator() as emu:
        seen = await stream_with_sdk(emu)
    for result in finals(seen):
        words = result.channel.alternatives[0].words
        assert (
            words
            and result.start - 1e-3
            <= words[0].start
            <= words[-1].end
            <= result.start + result.duration + 1e-3
        )


async def test_the_sdks_finalize_gets_a_from_finalize_result() -> None:
    async with DeepgramEmulator() as emu:
        seen = await stream_with_sdk(emu, finalize=True)
    flushed = [f for f in finals(seen) if f.from_finalize]
    assert [f.channel.alternatives[0].transcript for f in flushed][:1] == ["alpha"]
    assert not flushed[0].speech_final


async def test_the_sdk_gets_utterance_end_after_the_configured_gap() -> None:
    async with DeepgramEmulator() as emu:
        seen = await stream_with_sdk(emu, utterance_end_ms="400")  # the oracle's pauses are 500 ms
    ends = [m for m in seen if isinstance(m, ListenV1UtteranceEnd)]
    assert len(ends) == 2 and ends[0].last_word_end == finals(seen)[0].channel.alternatives[0].words[-1].end


async def test_a_wrong_key_is_the_sdks_api_error_401() -> None:
    async with DeepgramEmulator() as emu:
        with pytest.raises(ApiError) as caught:
            async with client(emu, key="wrong").listen.v1.connect(model="nova-3"):
                pass
    assert caught.value.status_code == 401


@pytest.mark.parametrize(
    ("model", "answer"), [("nova-3", ListenV1ConfigureSuccess), ("nova-2", ListenV1ConfigureFailure)]
)
async def test_the_sdks_configure_is_answered_as_its_types_say(model: str, answer: type) -> None:
    async with DeepgramEmulator() as emu, client(emu).listen.v1.connect(model=model) as socket:
        await socket.send_configure(ListenV1Configure(keyterms=["Acme"]))
        reply = await asyncio.wait_for(socket.recv(), 5)
    assert isinstance(reply, answer)
    assert getattr(reply, "keyterms", ["Acme"]) == ["Acme"]
