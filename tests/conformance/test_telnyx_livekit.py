"""LiveKit's own ``livekit-plugins-telnyx`` 1.8.9 (the ``conformance`` extra) against the Telnyx
emulator, with ``base_url`` pointed at it: a client nobody here wrote must get its transcripts.

The plugin streams a WAV header then PCM, sends no ``CloseStream`` and waits for the server to
close (docs/protocols/telnyx.md §4.7, §4.10.6): it finishes against the emulator's
``close_after_final`` end-of-stream mode (SC75's observation, streamcore-server issue #75) and
waits forever in the documented ``close_stream`` one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from livekit.agents import APIConnectOptions, stt

lk_telnyx = pytest.importorskip("livekit.plugins.telnyx")

from speechkit_conformance.emulators.telnyx import TelnyxConfig, TelnyxEmulator  # noqa: E402
from speechkit_conformance.harness import (  # noqa: E402
    MAX_WER,
    REFERENCE,
    OracleAudio,
    SpeechAudio,
    push,
    word_error_rate,
)

E = stt.SpeechEventType
ONCE = APIConnectOptions(max_retry=0, retry_interval=0.1, timeout=10.0)
PATH = "/v2/speech-to-text/transcription"


async def _finals(emu: TelnyxEmulator, frames: list[Any], *, limit: float = 30.0) -> list[str]:
    async with aiohttp.ClientSession() as http:
        engine = lk_telnyx.STT(api_key=emu.api_key, base_url=emu.url + PATH, http_session=http)
        stream = engine.stream(conn_options=ONCE)
        try:
            await push(stream, frames, speed=None)
            async with asyncio.timeout(limit):
                events = [ev async for ev in stream]
        finally:
            await stream.aclose()
        return [e.alternatives[0].text for e in events if e.type == E.FINAL_TRANSCRIPT]


async def test_the_plugin_finishes_a_session_when_the_server_closes_after_the_final() -> None:
    audio = OracleAudio()
    async with TelnyxEmulator(TelnyxConfig(end_of_stream="close_after_final")) as emu:
        finals = await _finals(emu, audio.frames())
    assert " ".join(finals).split() == audio.words
    session = emu.sessions[0]
    assert session.query["transcription_engine"] == "telnyx"  # the plugin's lowercase (§4.10.2)
    assert session.binary[0][:4] == b"RIFF" and len(session.binary[0]) == 44  # header alone (§4.3)
    assert session.texts == [] and session.ended_by == "server"  # no CloseStream (§4.10.6)


async def test_the_plugin_waits_for_a_close_that_the_close_stream_mode_never_sends() -> None:
    async with TelnyxEmulator(TelnyxConfig(end_of_stream="close_stream")) as emu:
        with pytest.raises(TimeoutError):
            await _finals(emu, OracleAudio().frames(), limit=2.0)
    assert emu.sessions[0].texts == []


@pytest.mark.slow
async def test_the_plugin_transcribes_real_speech_through_the_local_recognizer() -> None:
    config = TelnyxConfig(end_of_stream="close_after_final", recognizer="local", final_after=0.5)
    async with TelnyxEmulator(config) as emu:
        finals = await _finals(emu, SpeechAudio().frames(), limit=60.0)
    wer = word_error_rate(REFERENCE, " ".join(finals))
    assert wer <= MAX_WER, (wer, finals)
