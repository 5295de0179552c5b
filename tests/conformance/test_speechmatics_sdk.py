"""A client nobody here wrote agrees with the Speechmatics emulator: the official ``speechmatics-rt``
SDK (the ``conformance`` extra) runs whole sessions against it on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import numpy as np
import pytest
from speechkit_conformance.emulators.speechmatics import SpeechmaticsConfig, SpeechmaticsEmulator
from speechkit_conformance.oracle import synthesize

rt = pytest.importorskip("speechmatics.rt")

KEY = SpeechmaticsConfig().api_key
UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]
WORDS = [w for u in UTTERANCES for w in u]


class _PacedReader:
    """A file whose async ``read`` paces PCM s16le at ``speed`` times real time (the SDK awaits it)."""

    def __init__(self, data: bytes, rate: int, speed: float) -> None:
        self._buf, self._rate, self._speed = io.BytesIO(data), rate, speed

    async def read(self, size: int) -> bytes:
        chunk = self._buf.read(size)
        await asyncio.sleep(len(chunk) / 2 / self._rate / self._speed)
        return chunk


async def _session(emu: SpeechmaticsEmulator, source: Any, **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
    """Run ``client.transcribe(source)``; every server message the SDK surfaced, by type."""
    seen: dict[str, list[dict[str, Any]]] = {}
    client = rt.AsyncClient(api_key=KEY, url=emu.url)
    for kind in ("AddPartialTranscript", "AddTranscript", "EndOfUtterance", "EndOfTranscript", "Error"):
        client.on(rt.ServerMessageType(kind), lambda msg, kind=kind: seen.setdefault(kind, []).append(msg))
    try:
        await client.transcribe(source, timeout=20.0, **kwargs)
    finally:
        await client.close()
    return seen


def _words(messages: list[dict[str, Any]]) -> list[str]:
    return [r["alternatives"][0]["content"] for m in messages for r in m["results"] if r["type"] == "word"]


async def test_the_sdk_transcribes_a_paced_stream_with_partials_finals_and_end_of_transcript() -> None:
    pcm = synthesize(UTTERANCES, 16000).tobytes()
    config = rt.TranscriptionConfig(
        language="en",
        enable_partials=True,
        max_delay=0.7,
        conversation_config=rt.ConversationConfig(end_of_utterance_silence_trigger=0.5),
    )
    fmt = rt.AudioFormat(encoding=rt.AudioEncoding.PCM_S16LE, sample_rate=16000, chunk_size=3200)
    async with SpeechmaticsEmulator() as emu:
        seen = await _session(
            emu, _PacedReader(pcm, 16000, 4.0), transcription_config=config, audio_format=fmt
        )
    session = emu.sessions[0]
    assert "Error" not in seen and session.query["sm-sdk"].startswith("python-rt-sdk-v")
    assert {k.lower() for k in session.headers} >= {
        "x-request-id",
        "authorization",
    } and session.state.transcription_config["model"] == "enhanced"
    assert seen["AddPartialTranscript"] and _words(seen["AddTranscript"]) == WORDS
    assert len(seen["EndOfUtterance"]) == 2 and len(seen["EndOfTranscript"]) == 1
    last_seq_no = json.loads(session.texts[-1])["last_seq_no"]
    assert last_seq_no == len(session.binary), "EndOfStream names the last acknowledged frame"


async def test_the_sdk_at_its_default_44_1_khz_pushed_at_once_gets_every_final() -> None:
    pcm = synthesize(UTTERANCES, 44100).tobytes()
    fmt = rt.AudioFormat(encoding=rt.AudioEncoding.PCM_S16LE)  # the SDK's 44.1 kHz default rate
    async with SpeechmaticsEmulator() as emu:
        seen = await _session(emu, io.BytesIO(pcm), audio_format=fmt)
    assert emu.sessions[0].state.audio_format["sample_rate"] == 44100
    assert _words(seen["AddTranscript"]) == WORDS and len(seen["EndOfTranscript"]) == 1
    # enable_partials defaults to false (docs/protocols/speechmatics.md §3.2)
    assert "AddPartialTranscript" not in seen


async def test_the_sdk_gets_a_temporary_key_from_the_mock_and_connects_with_it() -> None:
    pcm = synthesize(UTTERANCES[:1], 16000).tobytes()
    fmt = rt.AudioFormat(encoding=rt.AudioEncoding.PCM_S16LE, sample_rate=16000)
    finals: list[dict[str, Any]] = []
    async with SpeechmaticsEmulator() as emu:
        client = rt.AsyncClient(rt.JWTAuth(KEY, mp_url=emu.auth_url), url=emu.url)
        client.on(rt.ServerMessageType.ADD_TRANSCRIPT, finals.append)
        try:
            await client.transcribe(io.BytesIO(pcm), audio_format=fmt, timeout=20.0)
        finally:
            await client.close()
    (jwt,) = emu.issued
    session = emu.sessions[0]
    assert session.headers["Authorization"] == f"Bearer {jwt}" and _words(finals) == UTTERANCES[0]
    # the SDK names the last *acknowledged* seq_no (SM-RT _on_audio_added), which lags the frames
    # sent when audio goes out at once; the server still transcribes every frame it received
    assert session.state.last_seq_no <= len(session.binary)


async def test_the_sdk_default_audio_format_sends_a_wav_file_the_emulator_reads() -> None:
    import wave

    wav = io.BytesIO()
    with wave.open(wav, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        mono = synthesize(UTTERANCES, 22050)
        w.writeframes(np.repeat(mono, 2).tobytes())
    wav.seek(0)
    async with SpeechmaticsEmulator() as emu:
        seen = await _session(emu, wav)  # no audio_format: the SDK sends {"type": "file"}
    assert emu.sessions[0].state.audio_format == {"type": "file"}
    assert _words(seen["AddTranscript"]) == WORDS and len(seen["EndOfTranscript"]) == 1


async def test_the_sdk_force_end_of_utterance_gets_the_pending_final_then_end_of_utterance() -> None:
    from speechkit_conformance.oracle import PAUSE_S

    pcm = synthesize(UTTERANCES[1:], 16000)[: -round(PAUSE_S * 16000)].tobytes()  # no pause after "echo"
    order: list[str] = []
    ended = asyncio.Event()
    async with SpeechmaticsEmulator() as emu:
        client = rt.AsyncClient(api_key=KEY, url=emu.url)
        client.on(rt.ServerMessageType.ADD_TRANSCRIPT, lambda m: order.extend(_words([m])))
        client.on(rt.ServerMessageType.END_OF_UTTERANCE, lambda m: (order.append("<EOU>"), ended.set()))
        fmt = rt.AudioFormat(encoding=rt.AudioEncoding.PCM_S16LE, sample_rate=16000)
        try:
            await client.start_session(
                transcription_config=rt.TranscriptionConfig(language="en"), audio_format=fmt
            )
            for i in range(0, len(pcm), 3200):
                await client.send_audio(pcm[i : i + 3200])
            await client.force_end_of_utterance()
            await asyncio.wait_for(ended.wait(), 5.0)
            await client.stop_session()
        finally:
            await client.close()
    assert order == ["charlie", "delta", "echo", "<EOU>"]
    force = [json.loads(t) for t in emu.sessions[0].texts if "ForceEndOfUtterance" in t]
    assert force[0]["timestamp"] == len(pcm) / 2 / 16000
