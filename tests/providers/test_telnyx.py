"""The Telnyx provider against the Telnyx emulator on 127.0.0.1 (no mocks): oracle words go in
through ``speechkit.STT`` and must come back, whatever the emulated server does."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, stt
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.telnyx import TelnyxConfig, TelnyxEmulator
from speechkit_conformance.oracle import LEAD_S, PAUSE_S, synthesize
from speechkit_providers.telnyx import TelnyxOptions, TelnyxProvider

import speechkit

E = stt.SpeechEventType
KEY = TelnyxConfig().api_key
RATE = 16000
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "jfk.flac"
FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]
WORDS = [w for u in UTTERANCES for w in u]
HEADER_16K = bytes.fromhex(
    "52 49 46 46 23 00 00 80 57 41 56 45 66 6d 74 20 10 00 00 00 01 00 01 00"
    " 80 3e 00 00 00 7d 00 00 02 00 10 00 64 61 74 61 ff ff ff 7f"
)  # LiveKit's streaming WAV header (docs/protocols/telnyx.md §4.3)


def frames(pcm: np.ndarray, rate: int = RATE, ms: int = 20) -> list[rtc.AudioFrame]:
    size = rate * ms // 1000
    return [
        rtc.AudioFrame(pcm[i : i + size].tobytes(), rate, 1, len(pcm[i : i + size]))
        for i in range(0, len(pcm), size)
    ]


async def run(
    emu: TelnyxEmulator,
    pcm: np.ndarray | None = None,
    *,
    pace: float = 0.0,
    conn: APIConnectOptions = FAST,
    api_key: str = KEY,
    **options: object,
) -> list[stt.SpeechEvent]:
    """Stream ``pcm`` (default: the oracle utterances) and collect every event.

    Args:
        pace: Seconds to sleep after each 20 ms frame (0: push everything at once).
    """
    provider = TelnyxProvider(TelnyxOptions(base_url=emu.url, api_key=api_key, **options))  # type: ignore[arg-type]
    engine = speechkit.STT(provider)
    stream = engine.stream(conn_options=conn)

    async def push() -> None:
        for f in frames(synthesize(UTTERANCES, RATE) if pcm is None else pcm):
            stream.push_frame(f)
            if pace:
                await asyncio.sleep(pace)
        stream.end_input()

    pusher = asyncio.create_task(push())
    try:
        return [ev async for ev in stream]
    finally:
        await pusher
        await stream.aclose()
        await engine.aclose()


def final_words(events: list[stt.SpeechEvent]) -> list[str]:
    return [w for e in events if e.type == E.FINAL_TRANSCRIPT for w in e.alternatives[0].text.split()]


# -- transcription --------------------------------------------------------------------------


async def test_oracle_words_come_back_as_one_final_per_utterance() -> None:
    async with TelnyxEmulator() as emu:
        events = await run(emu)
    kinds = [e.type for e in events if e.type != E.RECOGNITION_USAGE]
    assert kinds == [E.START_OF_SPEECH, E.FINAL_TRANSCRIPT, E.END_OF_SPEECH] * 2
    assert [e.alternatives[0].text for e in events if e.type == E.FINAL_TRANSCRIPT] == [
        "alpha bravo",
        "charlie delta echo",
    ]


async def test_deepgram_engine_streams_interims_then_finals() -> None:
    async with TelnyxEmulator() as emu:
        events = await run(emu, engine="deepgram")
    assert emu.sessions[0].query["transcription_engine"] == "Deepgram"
    assert [e.alternatives[0].text for e in events if e.type == E.INTERIM_TRANSCRIPT][:2] == [
        "alpha",
        "alpha bravo",
    ]
    assert final_words(events) == WORDS


async def test_a_null_confidence_is_not_reported_as_zero_certainty() -> None:
    async with TelnyxEmulator(TelnyxConfig(telnyx_confidence=0.87)) as emu:
        events = await run(emu)
    assert {e.alternatives[0].confidence for e in events if e.type == E.FINAL_TRANSCRIPT} == {0.87}


# -- framing and connect ------------------------------------------------------------------------


async def test_the_first_frame_is_the_streaming_wav_header_alone() -> None:
    async with TelnyxEmulator() as emu:
        await run(emu)
    session = emu.sessions[0]
    assert session.binary[0] == HEADER_16K
    assert session.state.sample_rate == RATE and session.state.channels == 1
    assert all(2048 <= len(b) <= 8192 for b in session.binary[1:-1])  # §4.3 recommended sizes


async def test_the_query_carries_interim_results_and_is_url_encoded() -> None:
    async with TelnyxEmulator() as emu:
        await run(emu, language="en-US", model="nova 3")
    session = emu.sessions[0]
    assert session.query["interim_results"] == "false"  # sent even at the server's default
    assert session.query["input_format"] == "wav" and session.query["transcription_engine"] == "Telnyx"
    assert "model=nova+3" in session.raw_query and session.query["language"] == "en-US"
    assert session.headers["Authorization"] == f"Bearer {KEY}" and "Origin" not in session.headers


async def test_end_of_input_sends_closestream() -> None:
    async with TelnyxEmulator() as emu:
        await run(emu)
    assert emu.sessions[0].texts == ['{"type": "CloseStream"}']


# -- errors -------------------------------------------------------------------------------------


async def test_a_bad_key_is_an_authentication_error_without_retry() -> None:
    async with TelnyxEmulator() as emu:
        with pytest.raises(speechkit.AuthenticationError, match="TELNYX_API_KEY"):
            await run(emu, api_key="wrong")
    assert [s.status for s in emu.sessions] == [401]


async def test_an_error_frame_40005_is_an_invalid_request_not_retried() -> None:
    frame = {
        "errors": [{"code": "40005", "title": "Invalid sample rate", "source": {"parameter": "sample_rate"}}]
    }
    async with TelnyxEmulator(faults=FaultPlan(error_after=0.0, error_message=frame)) as emu:
        with pytest.raises(speechkit.InvalidRequestError, match=r"40005.*sample_rate") as info:
            await run(emu)
    assert info.value.retryable is False
    assert len(emu.sessions) == 1


async def test_a_server_error_frame_is_retried_and_loses_no_words() -> None:
    async with TelnyxEmulator(faults=FaultPlan(error_after=0.2)) as emu:
        events = await run(emu, pace=0.005)
    assert final_words(events) == WORDS and len(emu.sessions) == 2


async def test_a_503_on_the_first_connect_is_retried() -> None:
    async with TelnyxEmulator(faults=FaultPlan(refuse_status=503, refuse_count=1)) as emu:
        events = await run(emu)
    assert [s.status for s in emu.sessions] == [503, 101]
    assert final_words(events) == WORDS


# -- end of stream (docs/protocols/telnyx.md §4.7) ----------------------------------------------


@pytest.mark.parametrize("mode", ["close_after_final", "stay_open", "close_stream"])
async def test_every_end_of_stream_mode_delivers_the_last_final(mode: str) -> None:
    # no trailing silence: only the end-of-stream handling can produce the last final; the
    # provider ends with CloseStream, which every mode honours: the server flushes and closes
    pcm = synthesize(UTTERANCES, RATE)[: -round(PAUSE_S * RATE)]
    async with TelnyxEmulator(TelnyxConfig(end_of_stream=mode)) as emu:  # type: ignore[arg-type]
        t0 = time.monotonic()
        events = await run(emu, pcm)
        elapsed = time.monotonic() - t0
    assert final_words(events) == WORDS
    assert events[-1].type in (E.END_OF_SPEECH, E.RECOGNITION_USAGE)
    assert emu.sessions[0].ended_by == "server" and emu.sessions[0].close_code == 1000
    assert elapsed < TelnyxProvider.drain_timeout  # the close ended the stream, not the drain


@pytest.mark.parametrize("mode", ["close_after_final", "stay_open", "close_stream"])
async def test_closestream_flushes_the_finals_and_closes_1000_in_every_mode(mode: str) -> None:
    # a plain client; final_after far off, so neither mode (a)'s close nor a timer's final can
    # be what answers: only CloseStream (§4.7, §4.11.5)
    pcm = synthesize(UTTERANCES, RATE)[: -round(PAUSE_S * RATE)]  # the last utterance still open
    config = TelnyxConfig(end_of_stream=mode, final_after=10.0)  # type: ignore[arg-type]
    query = "transcription_engine=Telnyx&input_format=linear16&sample_rate=16000"
    async with TelnyxEmulator(config) as emu, aiohttp.ClientSession() as http:
        url = f"{emu.url}/v2/speech-to-text/transcription?{query}"
        async with http.ws_connect(url, headers={"Authorization": f"Bearer {KEY}"}) as ws:
            for i in range(0, len(pcm), 1600):
                await ws.send_bytes(pcm[i : i + 1600].tobytes())
            await ws.send_str('{"type": "CloseStream"}')
            t0 = time.monotonic()
            async with asyncio.timeout(3.0):
                finals = [m.json() async for m in ws if m.type == aiohttp.WSMsgType.TEXT]
            elapsed = time.monotonic() - t0
        await asyncio.sleep(0.05)  # the emulator's side of the close
        assert emu.sessions[0].ended_by == "server"  # inside: stop() would mark it dropped
    assert [w for f in finals if f["is_final"] for w in f["transcript"].split()] == WORDS
    assert ws.close_code == 1000 and elapsed < 1.0


# -- reconnect ----------------------------------------------------------------------------------


async def test_a_dropped_connection_mid_utterance_reconnects_without_losing_words() -> None:
    drop_at = LEAD_S + 0.4 + PAUSE_S + 0.3  # inside "delta", the second word of utterance two
    async with TelnyxEmulator(faults=FaultPlan(drop_after=drop_at)) as emu:
        events = await run(emu, pace=0.005)
    first, second = emu.sessions
    assert first.ended_by == "drop" and second.binary[0] == HEADER_16K
    assert final_words(events) == WORDS


async def test_logs_carry_neither_transcripts_nor_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with TelnyxEmulator(faults=FaultPlan(drop_after=0.3)) as emu:
        await run(emu, pace=0.005)
    assert caplog.records  # the retry was logged
    assert not any(w in caplog.text for w in WORDS) and KEY not in caplog.text


@pytest.mark.parametrize(
    "timestamps",
    [
        False,
        True,
    ],
)
async def test_a_late_final_does_not_confirm_the_next_utterance_before_a_drop(timestamps: bool) -> None:
    # final 1 arrives 0.4 s late, when utterance 2 is already sent; then the connection drops
    plan = FaultPlan(delay=0.4, drop_after=1.9)
    async with TelnyxEmulator(TelnyxConfig(timestamps=timestamps), faults=plan) as emu:
        events = await run(emu, pace=0.01)
    assert emu.sessions[0].ended_by == "drop" and len(emu.sessions) == 2
    assert final_words(events) == WORDS


class _QuickHeartbeat(TelnyxProvider):
    heartbeat = 0.3  # seconds: detect the half-open socket within the test's budget


async def test_a_half_open_server_is_detected_by_the_heartbeat_and_replaced() -> None:
    async with TelnyxEmulator(faults=FaultPlan(stall_after=0.5)) as emu:
        engine = speechkit.STT(_QuickHeartbeat(TelnyxOptions(base_url=emu.url, api_key=KEY)))
        stream = engine.stream(conn_options=FAST)
        for f in frames(synthesize(UTTERANCES, RATE)):
            stream.push_frame(f)
            await asyncio.sleep(0.005)
        stream.end_input()
        events = [ev async for ev in stream]
        await engine.aclose()
    assert [s.ended_by for s in emu.sessions] == ["stall", "server"]
    assert final_words(events) == WORDS


async def test_a_case_sensitive_server_accepts_the_engine_as_the_docs_spell_it() -> None:
    async with TelnyxEmulator(TelnyxConfig(case_sensitive_engine=True)) as emu:
        events = await run(emu, engine="telnyx")
    assert emu.sessions[0].query["transcription_engine"] == "Telnyx"
    assert final_words(events) == WORDS


@pytest.mark.slow
async def test_the_local_recognizer_serves_real_speech() -> None:
    from speechkit.audio import decode_file

    audio = decode_file(SAMPLE)
    async with TelnyxEmulator(TelnyxConfig(recognizer="local", final_after=0.5)) as emu:
        engine = speechkit.STT(TelnyxProvider(TelnyxOptions(base_url=emu.url, api_key=KEY)))
        event = await engine.recognize(audio.frames)
        await engine.aclose()
    assert "your country" in event.alternatives[0].text.lower()


@pytest.mark.parametrize("pace", [0.005, 0.0], ids=["paced", "burst"])
async def test_final_times_after_a_reconnect_are_on_the_stream_clock(pace: float) -> None:
    # timestamps mode: finals say where in the *connection's* audio they are; the core adds
    # where that connection's replay began, so utterance two keeps the time it was spoken
    drop_at = LEAD_S + 0.4 + PAUSE_S + 0.3  # inside "delta"
    config = TelnyxConfig(timestamps=True)
    async with TelnyxEmulator(config, faults=FaultPlan(drop_after=drop_at)) as emu:
        events = await run(emu, pace=pace)
    assert len(emu.sessions) == 2, "no reconnect happened"
    finals = [e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT]
    assert [f.text for f in finals] == ["alpha bravo", "charlie delta echo"]
    second_start = LEAD_S + 2 * 0.16 + 0.08 + PAUSE_S  # two words (two 80 ms tones each), a gap
    assert abs(finals[1].start_time - second_start) <= 0.1, [(f.start_time, f.end_time) for f in finals]
    assert abs(finals[1].end_time - (second_start + 3 * 0.16 + 2 * 0.08)) <= 0.1


async def test_a_half_open_server_after_the_last_audio_fails_the_drain_and_is_replaced() -> None:
    pcm = synthesize(UTTERANCES, RATE)[: -round(PAUSE_S * RATE)]  # only the drain finalises "echo"
    async with TelnyxEmulator(faults=FaultPlan(stall_after=len(pcm) / RATE - 0.05)) as emu:
        events = await run(emu, pcm, response_timeout=0.5)
    assert [s.ended_by for s in emu.sessions] == ["stall", "server"]
    assert final_words(events) == WORDS


def test_error_text_names_the_provider_under_its_registered_name() -> None:
    class Renamed(TelnyxProvider):  # a vendor reusing the protocol under another name
        name = "acmetel"
        credential_env = "ACMETEL_API_KEY"

    provider = Renamed(TelnyxOptions(api_key="k"))
    auth = provider.error({"errors": [{"code": "10009", "title": "Authentication failed"}]})
    bad = provider.error({"errors": [{"code": "40005", "source": {"parameter": "language"}}]})
    assert auth.message.startswith("acmetel error 10009") and "ACMETEL_API_KEY" in auth.message
    assert bad.message.startswith("acmetel error 40005") and "telnyx" not in bad.message.lower()


async def test_more_than_a_hundred_concurrent_streams_on_one_stt_all_connect() -> None:
    """One STT, 120 streams open at once: each holds a WebSocket for its life, so a connection
    cap on the shared aiohttp session (aiohttp's default is 100) would leave the last 20
    waiting for a slot until their connect timed out."""
    async with TelnyxEmulator() as emu:
        engine = speechkit.STT(TelnyxProvider(TelnyxOptions(base_url=emu.url, api_key=KEY)))
        pcm = synthesize([["alpha", "bravo"]], RATE)
        streams = [
            engine.stream(conn_options=APIConnectOptions(max_retry=0, timeout=1.0)) for _ in range(120)
        ]
        for s in streams:  # every stream pushes its first frame, so each one connects now
            s.push_frame(frames(pcm)[0])
        await asyncio.sleep(1.5)  # all open past the connect timeout before any ends
        for s in streams:
            for f in frames(pcm)[1:]:
                s.push_frame(f)
            s.end_input()

        async def words(s: speechkit.SpeechStream) -> list[str]:
            return final_words([ev async for ev in s])

        try:
            got = await asyncio.gather(*(words(s) for s in streams))
        finally:
            for s in streams:
                await s.aclose()
            await engine.aclose()
    assert got == [["alpha", "bravo"]] * 120
