"""LiveKit's own ``livekit-plugins-assemblyai`` (the ``conformance`` extra) against the emulator, with
``base_url`` pointed at it: a client nobody here wrote must get its transcripts."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import numpy as np
import pytest
from livekit.agents import APIConnectOptions, stt

lk_aai = pytest.importorskip("livekit.plugins.assemblyai")

from speechkit_conformance.emulators.assemblyai import AssemblyAIConfig, AssemblyAIEmulator  # noqa: E402
from speechkit_conformance.harness import (  # noqa: E402
    REFERENCE,
    OracleAudio,
    SpeechAudio,
    frames_of,
    push,
    word_error_rate,
)

E = stt.SpeechEventType
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "jfk.flac"
RATE = 16000
ONCE = APIConnectOptions(max_retry=0, retry_interval=0.1, timeout=10.0)


async def _events(emu: AssemblyAIEmulator, frames: list, **options: object) -> list[stt.SpeechEvent]:
    async with aiohttp.ClientSession() as http:
        engine = lk_aai.STT(api_key=emu.api_key, base_url=emu.url, http_session=http, **options)  # type: ignore[arg-type]
        stream = engine.stream(conn_options=ONCE)
        await push(stream, frames, speed=None)
        events = [ev async for ev in stream]
        await stream.aclose()
        return events


def _whole_chunks(audio: OracleAudio) -> list:
    """The oracle audio padded with silence to whole 50 ms chunks: the plugin sends the remainder
    of its last chunk as is (docs/protocols/assemblyai.md §2.11.1), which a strict server refuses."""
    pcm = audio.pcm()
    return frames_of(np.pad(pcm, (0, -len(pcm) % (RATE // 20))), RATE)


def _finals(events: list[stt.SpeechEvent]) -> list[str]:
    return [e.alternatives[0].text for e in events if e.type == E.FINAL_TRANSCRIPT]


async def test_the_plugin_gets_interims_and_one_final_per_turn_on_universal_streaming() -> None:
    async with AssemblyAIEmulator() as emu:
        events = await _events(emu, _whole_chunks(OracleAudio()), model="universal-streaming-english")
    assert _finals(events) == ["alpha bravo", "charlie delta echo"]
    assert [e.type for e in events].count(E.INTERIM_TRANSCRIPT) >= 5
    assert emu.sessions[0].query["speech_model"] == "universal-streaming-english"
    assert emu.sessions[0].headers["Authorization"] == emu.api_key


async def test_the_plugin_with_format_turns_emits_only_the_formatted_finals() -> None:
    async with AssemblyAIEmulator() as emu:
        events = await _events(
            emu, _whole_chunks(OracleAudio()), model="universal-streaming-english", format_turns=True
        )
    assert _finals(events) == ["Alpha bravo.", "Charlie delta echo."]


async def test_the_plugin_default_model_gets_speech_started_and_word_times() -> None:
    async with AssemblyAIEmulator() as emu:
        events = await _events(
            emu, _whole_chunks(OracleAudio())
        )  # universal-3-6-pro, language_detection=true
    assert emu.sessions[0].query["speech_model"] == "universal-3-6-pro"
    assert [e.type for e in events].count(E.START_OF_SPEECH) == 2
    final = next(e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT)
    assert final.text == "Alpha bravo." and final.language == "en"
    assert abs(final.start_time - 0.1) <= 0.03  # the first oracle word starts at 0.1 s


async def test_the_plugins_short_last_chunk_is_refused_with_3007_as_the_docs_say() -> None:
    # 2.14 s of audio: the plugin's 50 ms chunks leave a 40 ms tail it sends unpadded
    async with AssemblyAIEmulator() as emu:
        await _events(emu, OracleAudio().frames(), model="universal-streaming-english")
    session = emu.sessions[0]
    assert len(session.binary[-1]) == 1280 and session.close_code == 3007
    assert '"error_code": 3007' in session.sent[-1]


async def test_with_chunk_checks_off_the_plugins_short_tail_is_transcribed() -> None:
    async with AssemblyAIEmulator(AssemblyAIConfig(strict_chunks=False)) as emu:
        events = await _events(emu, OracleAudio().frames(), model="universal-streaming-english")
    assert _finals(events) == ["alpha bravo", "charlie delta echo"]


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE.exists(), reason="needs samples/jfk.flac")
async def test_the_plugin_transcribes_real_speech_through_the_local_recognizer() -> None:
    async with AssemblyAIEmulator(AssemblyAIConfig(recognizer="local")) as emu:
        events = await _events(emu, SpeechAudio().frames(), model="universal-streaming-english")
    text = " ".join(_finals(events))
    print(f"jfk.flac via the plugin: {text!r}, WER {word_error_rate(REFERENCE, text):.3f}")
    assert word_error_rate(REFERENCE, text) <= 0.15, text
