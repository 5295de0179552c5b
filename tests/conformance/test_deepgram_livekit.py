"""LiveKit's own ``livekit-plugins-deepgram`` 1.8.9 (the ``conformance`` extra) against the emulator, with
``base_url`` pointed at it: a client nobody here wrote must get its transcripts, and one
START/END pair per utterance whether the audio is paced or pushed at once (issue 20 part 4: an
emulator that ended utterances by wall-clock time merged them in burst mode, and only this plugin
showed it)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from livekit.agents import APIConnectOptions, stt

lk_dg = pytest.importorskip("livekit.plugins.deepgram")

from speechkit_conformance.emulators.deepgram import DeepgramConfig, DeepgramEmulator  # noqa: E402
from speechkit_conformance.harness import REFERENCE, OracleAudio, SpeechAudio, push, word_error_rate  # noqa: E402

E = stt.SpeechEventType
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "jfk.flac"
ONCE = APIConnectOptions(max_retry=0, retry_interval=0.1, timeout=10.0)


async def _events(
    emu: DeepgramEmulator, frames: list, *, speed: float | None = None, **options: object
) -> list[stt.SpeechEvent]:
    async with aiohttp.ClientSession() as http:
        engine = lk_dg.STT(api_key=emu.api_key, base_url=f"{emu.url}/v1/listen", http_session=http, **options)  # type: ignore[arg-type]
        stream = engine.stream(conn_options=ONCE)
        await push(stream, frames, speed=speed)
        events = [ev async for ev in stream]
        await stream.aclose()
        return events


def _finals(events: list[stt.SpeechEvent]) -> list[str]:
    return [e.alternatives[0].text for e in events if e.type == E.FINAL_TRANSCRIPT]


def _pairs(events: list[stt.SpeechEvent]) -> tuple[int, int]:
    types = [e.type for e in events]
    return types.count(E.START_OF_SPEECH), types.count(E.END_OF_SPEECH)


@pytest.mark.parametrize("speed", [None, 1.0], ids=["burst", "paced"])
async def test_the_plugin_gets_one_start_end_pair_and_one_final_per_utterance(speed: float | None) -> None:
    audio = OracleAudio(utterances=(("alpha", "bravo"), ("charlie", "delta", "echo"), ("foxtrot", "golf")))
    async with DeepgramEmulator() as emu:
        events = await _events(emu, audio.frames(), speed=speed)
    assert _finals(events) == ["alpha bravo", "charlie delta echo", "foxtrot golf"]
    assert _pairs(events) == (3, 3)


async def test_the_plugins_query_and_token_header_are_what_the_emulator_accepts() -> None:
    async with DeepgramEmulator() as emu:
        await _events(emu, OracleAudio().frames())
    session = emu.sessions[0]
    assert session.status == 101 and session.headers["Authorization"] == f"Token {emu.api_key}"
    assert session.query["model"] == "nova-3" and session.query["encoding"] == "linear16"
    assert session.query["endpointing"] == "25" and '{"type": "CloseStream"}' in session.texts


async def test_the_plugins_word_times_are_the_oracles() -> None:
    async with DeepgramEmulator() as emu:
        events = await _events(emu, OracleAudio().frames())
    final = next(e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT)
    assert abs(final.start_time - 0.1) <= 0.03  # the first oracle word starts at 0.1 s
    assert [w for w in final.words or []] == ["alpha", "bravo"]


async def test_the_plugin_ends_utterances_on_utterance_end_without_endpointing() -> None:
    async with DeepgramEmulator() as emu:
        events = await _events(emu, OracleAudio().frames(), endpointing_ms=0, utterance_end_ms=400)
    assert emu.sessions[0].query["endpointing"] == "false"
    assert _finals(events) == ["alpha bravo", "charlie delta echo"] and _pairs(events) == (2, 2)


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE.exists(), reason="needs samples/jfk.flac")
async def test_the_plugin_transcribes_real_speech_through_the_local_recognizer() -> None:
    async with DeepgramEmulator(DeepgramConfig(recognizer="local")) as emu:
        events = await _events(emu, SpeechAudio().frames())
    text = " ".join(_finals(events))
    print(f"jfk.flac via the plugin: {text!r}, WER {word_error_rate(REFERENCE, text):.3f}")
    assert word_error_rate(REFERENCE, text) <= 0.15, text
