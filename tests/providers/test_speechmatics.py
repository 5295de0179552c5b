"""The Speechmatics provider against the Speechmatics RT v2 emulator on 127.0.0.1 (no mocks): oracle
words go in through ``speechkit.STT`` and must come back, whatever the emulated server does."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from livekit.agents import APIConnectOptions, stt
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.speechmatics import (
    SpeechmaticsConfig,
    SpeechmaticsEmulator,
    error_message,
)
from speechkit_conformance.harness import frames_of, push, transcribe, word_error_rate
from speechkit_conformance.oracle import PAUSE_S, synthesize
from speechkit_providers.speechmatics import RETRY_AFTER, SpeechmaticsOptions, SpeechmaticsProvider

import speechkit
from speechkit import Session

E = stt.SpeechEventType
KEY = SpeechmaticsConfig().api_key
FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]
WORDS = [w for u in UTTERANCES for w in u]
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "jfk.flac"


def engine(emu: SpeechmaticsEmulator, **options: Any) -> speechkit.STT:
    values: dict[str, Any] = {"base_url": emu.url, "api_key": KEY}
    return speechkit.STT(SpeechmaticsProvider(SpeechmaticsOptions(**(values | options))))


async def run(
    emu: SpeechmaticsEmulator,
    pcm: np.ndarray | None = None,
    *,
    rate: int = 16000,
    speed: float | None = None,
    **options: Any,
) -> list[stt.SpeechEvent]:
    """Stream ``pcm`` (default: the oracle utterances at ``rate``) and collect every event."""
    eng = engine(emu, sample_rate=rate, **options)
    try:
        pcm = synthesize(UTTERANCES, rate) if pcm is None else pcm
        return (await transcribe(eng, frames_of(pcm, rate), speed=speed, conn_options=FAST)).events
    finally:
        await eng.aclose()


def finals(events: list[stt.SpeechEvent]) -> list[stt.SpeechData]:
    return [e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT]


def final_words(events: list[stt.SpeechEvent]) -> list[str]:
    return [w.strip(".,?!").lower() for f in finals(events) for w in f.text.split()]


def sent(emu: SpeechmaticsEmulator, kind: str, session: int = 0) -> list[dict[str, Any]]:
    """The server messages of one kind, decoded."""
    return [m for m in map(json.loads, emu.sessions[session].sent) if m.get("message") == kind]


def received(emu: SpeechmaticsEmulator, session: int = 0) -> list[dict[str, Any]]:
    """The client's text messages, decoded."""
    return [json.loads(t) for t in emu.sessions[session].texts]


# -- transcription ------------------------------------------------------------------------------


async def test_oracle_words_come_back_with_one_end_of_speech_per_utterance() -> None:
    async with SpeechmaticsEmulator() as emu:
        events = await run(emu)
    assert final_words(events) == WORDS
    kinds = [e.type for e in events if e.type not in (E.RECOGNITION_USAGE, E.INTERIM_TRANSCRIPT)]
    assert kinds.count(E.START_OF_SPEECH) == kinds.count(E.END_OF_SPEECH) == 2
    assert len(sent(emu, "EndOfUtterance")) == 2


async def test_paced_audio_gets_partials_before_the_final_of_their_words() -> None:
    async with SpeechmaticsEmulator() as emu:
        events = await run(emu, speed=2.0)
    kinds = [e.type for e in events if e.type in (E.INTERIM_TRANSCRIPT, E.FINAL_TRANSCRIPT)]
    assert kinds[0] == E.INTERIM_TRANSCRIPT and sent(emu, "AddPartialTranscript")
    assert final_words(events) == WORDS


async def test_finals_carry_word_times_and_confidences_on_the_stream_clock() -> None:
    async with SpeechmaticsEmulator() as emu:
        events = await run(emu)
    words = [w for f in finals(events) for w in f.words or []]
    assert [str(w) for w in words] == WORDS
    assert all(0.0 < w.start_time < w.end_time for w in words)
    assert [w.start_time for w in words] == sorted(w.start_time for w in words)
    assert all(f.confidence == pytest.approx(1.0) for f in finals(events))


async def test_diarization_labels_each_final_with_its_speaker() -> None:
    async with SpeechmaticsEmulator(SpeechmaticsConfig(speakers=2)) as emu:
        events = await run(emu, diarization=True, max_speakers=2)
    config = received(emu)[0]["transcription_config"]
    assert config["diarization"] == "speaker" and config["speaker_diarization_config"] == {"max_speakers": 2}
    speakers = {f.text.strip("."): f.speaker_id for f in finals(events)}
    assert speakers == {"alpha": "S1", "bravo": "S1", "charlie": "S2", "delta": "S2", "echo": "S2"}


def test_punctuation_attaches_as_attaches_to_says() -> None:
    provider = SpeechmaticsProvider(SpeechmaticsOptions(api_key=KEY))
    session = Session(language="en", sample_rate=16000, attempt=1, http=None, timeout=5.0)

    def item(kind: str, content: str, t: float, attaches: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": kind, "start_time": t, "end_time": t + 0.1}
        out["alternatives"] = [{"content": content, "confidence": 0.5}]
        return out | ({"attaches_to": attaches} if attaches else {})

    results = [
        item("punctuation", "¿", 0.0, "next"),
        item("word", "Qué", 0.1),
        item("punctuation", "?", 0.2, "previous"),
        item("word", "well", 0.3),
        item("punctuation", "-", 0.4, "both"),
        item("word", "known", 0.5),
        item("punctuation", ".", 0.6),  # attaches_to left out: previous
    ]
    message = json.dumps({"message": "AddTranscript", "results": results, "metadata": {}})
    (final,) = provider.parse(message, session)
    assert final.text == "¿Qué? well-known." and [w.text for w in final.words] == ["Qué", "well", "known"]
    assert final.is_final and final.start_time == 0.0 and final.end_time == pytest.approx(0.7)


# -- framing ------------------------------------------------------------------------------------


async def test_start_recognition_carries_the_config_string_options() -> None:
    async with SpeechmaticsEmulator() as emu:
        config = (
            f"speechmatics/standard:de-DE?base_url={emu.url}&api_key={KEY}&keyterms=gnocchi%2CLiveKit"
            "&max_delay=1.5&max_delay_mode=fixed&punctuation_marks=.%3F&output_locale=de-AT&endpointing=0.8"
        )
        eng = speechkit.stt(config)
        await transcribe(eng, frames_of(synthesize(UTTERANCES[:1], 16000), 16000), conn_options=FAST)
        await eng.aclose()
    start = received(emu)[0]
    assert start["message"] == "StartRecognition"
    assert start["audio_format"] == {"type": "raw", "encoding": "pcm_s16le", "sample_rate": 16000}
    assert start["transcription_config"] == {
        "language": "de",
        "operating_point": "standard",
        "enable_partials": True,
        "max_delay": 1.5,
        "max_delay_mode": "fixed",
        "output_locale": "de-AT",
        "additional_vocab": [{"content": "gnocchi"}, {"content": "LiveKit"}],
        "conversation_config": {"end_of_utterance_silence_trigger": 0.8},
        "punctuation_overrides": {"permitted_marks": [".", "?"]},
    }


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ("speechmatics/turbo:en", "model must be one of standard, enhanced; got 'turbo'"),
        ("speechmatics:en?max_delay=5", "'max_delay' must be <= 4.0"),
        ("speechmatics:en?encoding=opus", "encoding' must be one of pcm_s16le, pcm_f32le, mulaw"),
        ("speechmatics:en?max_speakers=1", "'max_speakers' must be >= 2"),
    ],
)
def test_a_bad_option_fails_when_the_config_string_is_read(config: str, complaint: str) -> None:
    with pytest.raises(speechkit.ConfigError, match=re.escape(complaint)):
        speechkit.stt(f"{config}{'&' if '?' in config else '?'}api_key={KEY}")


async def test_no_audio_is_sent_before_recognition_started() -> None:
    async with SpeechmaticsEmulator(SpeechmaticsConfig(start_delay=0.5)) as emu:
        events = await run(emu)
    session = emu.sessions[0]
    sent_at = [t for t, kind, _ in session.timeline if kind == "sent"]  # in order with session.sent
    started_at = sent_at[next(i for i, m in enumerate(session.sent) if "RecognitionStarted" in m)]
    first_audio = next(t for t, kind, _ in session.timeline if kind == "bin")
    assert started_at >= 0.5 and first_audio >= started_at
    assert final_words(events) == WORDS and len(emu.sessions) == 1


async def test_a_session_not_started_within_the_connect_timeout_is_retried_and_sends_no_audio() -> None:
    quick = APIConnectOptions(max_retry=1, retry_interval=0.05, timeout=0.3)
    async with SpeechmaticsEmulator(SpeechmaticsConfig(start_delay=1.0)) as emu:
        eng = engine(emu)
        with pytest.raises(speechkit.errors.APIConnectionError, match="not ready"):
            await transcribe(eng, frames_of(synthesize(UTTERANCES, 16000), 16000), conn_options=quick)
        await eng.aclose()
    assert len(emu.sessions) == 2 and not any(s.binary for s in emu.sessions)


async def test_end_of_stream_names_the_last_seq_no_the_server_acknowledged() -> None:
    async with SpeechmaticsEmulator() as emu:
        await run(emu)
    frames = len(emu.sessions[0].binary)
    assert [m["seq_no"] for m in sent(emu, "AudioAdded")] == list(range(1, frames + 1))
    assert received(emu)[-1] == {"message": "EndOfStream", "last_seq_no": frames}
    assert sent(emu, "EndOfTranscript") and emu.sessions[0].close_code == 1000


async def test_flush_forces_the_end_of_the_utterance_before_the_input_ends() -> None:
    async with SpeechmaticsEmulator() as emu:
        eng = engine(emu, endpointing=0.0)  # no server endpointing: only the flush can end it
        stream = eng.stream(conn_options=FAST)
        pcm = synthesize(UTTERANCES[:1], 16000)[: -round(PAUSE_S * 16000)]
        for frame in frames_of(pcm, 16000):
            stream.push_frame(frame)
        stream.flush()
        events: list[stt.SpeechEvent] = []
        async with asyncio.timeout(5.0):
            async for ev in stream:
                events.append(ev)
                if ev.type == E.END_OF_SPEECH:
                    break
        await stream.aclose()
        await eng.aclose()
    assert final_words(events) == UTTERANCES[0]
    (force,) = [m for m in received(emu) if m["message"] == "ForceEndOfUtterance"]
    assert force["timestamp"] == pytest.approx(len(pcm) / 16000, abs=0.001)


@pytest.mark.parametrize(("encoding", "rate"), [("mulaw", 8000), ("pcm_f32le", 16000), ("pcm_s16le", 44100)])
async def test_every_wire_encoding_reaches_the_server_as_declared(encoding: str, rate: int) -> None:
    async with SpeechmaticsEmulator() as emu:
        events = await run(emu, rate=rate, encoding=encoding)
    assert emu.sessions[0].state.audio_format == {"type": "raw", "encoding": encoding, "sample_rate": rate}
    assert final_words(events) == WORDS


# -- options on a live stream -------------------------------------------------------------------


async def _update_midway(emu: SpeechmaticsEmulator, **options: Any) -> list[stt.SpeechEvent]:
    eng = engine(emu)
    stream = eng.stream(conn_options=FAST)
    frames = frames_of(synthesize(UTTERANCES, 16000), 16000)
    await push(stream, frames[: len(frames) // 2], speed=4.0, end_input=False)
    stream.update_options(**options)
    await push(stream, frames[len(frames) // 2 :], speed=4.0)
    events = [ev async for ev in stream]
    await stream.aclose()
    await eng.aclose()
    return events


async def test_a_max_delay_update_goes_as_set_recognition_config_on_the_same_session() -> None:
    async with SpeechmaticsEmulator() as emu:
        events = await _update_midway(emu, max_delay=2.0, interim_results=False)
    assert len(emu.sessions) == 1 and final_words(events) == WORDS
    (update,) = [m for m in received(emu) if m["message"] == "SetRecognitionConfig"]
    assert update["transcription_config"] == {"max_delay": 2.0, "enable_partials": False}


async def test_a_diarization_update_reconnects_with_the_new_config() -> None:
    async with SpeechmaticsEmulator() as emu:
        events = await _update_midway(emu, diarization=True)
    assert len(emu.sessions) == 2 and final_words(events) == WORDS
    assert received(emu, 1)[0]["transcription_config"]["diarization"] == "speaker"


# -- connect and auth ---------------------------------------------------------------------------


async def test_the_key_goes_as_a_bearer_header_and_sdk_style_urls_are_accepted() -> None:
    async with SpeechmaticsEmulator() as emu:
        await run(emu, base_url=f"{emu.url}?sm-sdk=python-rt-sdk-v1.2.1")
    session = emu.sessions[0]
    assert session.headers["Authorization"] == f"Bearer {KEY}" and session.path == "/v2"
    assert session.query == {"sm-sdk": "python-rt-sdk-v1.2.1"}


async def test_a_bare_host_base_url_and_the_environment_variable_both_reach_v2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with SpeechmaticsEmulator() as emu:
        await run(emu, base_url=f"ws://127.0.0.1:{emu.port}")
        monkeypatch.setenv("SPEECHMATICS_RT_URL", emu.url)
        await run(emu, base_url=None)
    assert [s.path for s in emu.sessions] == ["/v2", "/v2"]


async def test_a_temporary_key_is_fetched_and_used_instead_of_the_api_key() -> None:
    async with SpeechmaticsEmulator() as emu:
        events = await run(emu, temporary_key=True, auth_url=emu.auth_url)
    (jwt,) = emu.issued
    assert emu.sessions[0].headers["Authorization"] == f"Bearer {jwt}" and final_words(events) == WORDS


async def test_a_bad_key_is_an_authentication_error_without_retry() -> None:
    async with SpeechmaticsEmulator() as emu:
        with pytest.raises(speechkit.AuthenticationError, match="SPEECHMATICS_API_KEY"):
            await run(emu, api_key="wrong")
    assert [s.status for s in emu.sessions] == [401]


async def test_an_in_band_not_authorised_error_is_not_retried() -> None:
    async with SpeechmaticsEmulator(SpeechmaticsConfig(auth_failure="frame")) as emu:
        with pytest.raises(speechkit.AuthenticationError, match="not_authorised"):
            await run(emu, api_key="wrong")
    assert len(emu.sessions) == 1 and emu.sessions[0].close_code == 4001


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["invalid_config", "invalid_audio_type", "not_authorised"])
async def test_configuration_errors_are_not_retried(kind: str) -> None:
    plan = FaultPlan(error_after=0.0, error_message=error_message(kind, "no"), error_close_code=4003)
    async with SpeechmaticsEmulator(faults=plan) as emu:
        with pytest.raises(speechkit.errors.APIError, match=kind) as info:
            await run(emu)
    assert info.value.retryable is False and len(emu.sessions) == 1


async def test_an_unsupported_sample_rate_is_refused_by_the_server_and_not_retried() -> None:
    async with SpeechmaticsEmulator() as emu:
        with pytest.raises(speechkit.InvalidRequestError, match="invalid_audio_type"):
            await run(emu, rate=12345)
    assert len(emu.sessions) == 1 and emu.sessions[0].close_code == 4003


async def test_a_job_error_mid_stream_is_retried_after_the_documented_delay_without_losing_words() -> None:
    async with SpeechmaticsEmulator(faults=FaultPlan(error_after=0.5)) as emu:
        events = await run(emu, speed=4.0)
    first, second = emu.sessions
    assert first.close_code == 4013 and second.started - first.started >= RETRY_AFTER
    assert final_words(events) == WORDS


# -- the emulator's own rules (a raw client) ----------------------------------------------------


async def _raw_session(
    emu: SpeechmaticsEmulator, *frames: str | bytes
) -> tuple[list[dict[str, Any]], int | None]:
    """Send frames as a bare client (audio after ``RecognitionStarted`` when a ``StartRecognition``
    goes first); every server message until the close, and the close code."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(emu.url, headers={"Authorization": f"Bearer {KEY}"}) as ws,
    ):
        messages: list[dict[str, Any]] = []
        starts = any(isinstance(f, str) and "StartRecognition" in f for f in frames)
        for frame in frames:
            if starts and isinstance(frame, bytes):
                while not any(m["message"] in ("RecognitionStarted", "Error") for m in messages):
                    messages.append(await ws.receive_json())  # audio only once recognition started
            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        async with asyncio.timeout(5.0):
            async for msg in ws:
                messages.append(json.loads(msg.data))
        return messages, ws.close_code


START = json.dumps(
    {
        "message": "StartRecognition",
        "audio_format": {"type": "raw", "encoding": "pcm_s16le", "sample_rate": 16000},
        "transcription_config": {"language": "en"},
    }
)


async def test_audio_before_start_recognition_is_a_protocol_error() -> None:
    async with SpeechmaticsEmulator() as emu:
        messages, code = await _raw_session(emu, bytes(3200))
    assert messages[-1]["type"] == "protocol_error" and code == 1003


async def test_a_file_that_is_not_wav_is_refused_as_an_invalid_audio_type() -> None:
    start = json.loads(START) | {"audio_format": {"type": "file"}}
    async with SpeechmaticsEmulator() as emu:
        messages, code = await _raw_session(emu, json.dumps(start), b"ID3\x04" + bytes(100))
    assert messages[-1]["type"] == "invalid_audio_type" and code == 4003


async def test_set_recognition_config_may_not_change_the_language() -> None:
    update = json.dumps({"message": "SetRecognitionConfig", "transcription_config": {"language": "de"}})
    async with SpeechmaticsEmulator() as emu:
        messages, code = await _raw_session(emu, START, update)
    assert messages[-1]["message"] == "Error" and messages[-1]["type"] == "invalid_config" and code == 4003


async def test_an_idle_session_is_warned_then_closed_1008() -> None:
    config = SpeechmaticsConfig(idle_timeout=0.4, idle_warnings=(0.2,))
    async with SpeechmaticsEmulator(config) as emu:
        t0 = time.monotonic()
        messages, code = await _raw_session(emu, START)
    kinds = [(m["message"], m.get("type")) for m in messages if m["message"] in ("Warning", "Error")]
    assert kinds == [("Warning", "idle_timeout"), ("Error", "idle_timeout")] and code == 1008
    assert time.monotonic() - t0 >= 0.4


async def test_the_agent_path_is_not_served_as_classic_rt() -> None:
    async with SpeechmaticsEmulator() as emu, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(f"{emu.url}/agent", headers={"Authorization": f"Bearer {KEY}"})
    assert info.value.status == 404


# -- real speech --------------------------------------------------------------------------------


@pytest.mark.slow
async def test_the_local_recognizer_serves_real_speech_with_punctuation() -> None:
    from speechkit_conformance.harness import REFERENCE

    from speechkit.audio import decode_file

    audio = decode_file(SAMPLE)
    async with SpeechmaticsEmulator(SpeechmaticsConfig(recognizer="local")) as emu:
        eng = engine(emu)
        event = await eng.recognize(audio.frames, conn_options=FAST)
        await eng.aclose()
    text = event.alternatives[0].text
    assert word_error_rate(REFERENCE, text) <= 0.15 and "." in text and " ." not in text
    punctuation = [r for m in sent(emu, "AddTranscript") for r in m["results"] if r["type"] == "punctuation"]
    assert punctuation and all(r["attaches_to"] in ("previous", "next") for r in punctuation)


async def test_speechkit_emulate_prints_a_config_string_that_transcribes() -> None:
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "speechkit", "emulate", "speechmatics", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20.0):
            lines = [(await proc.stdout.readline()).decode() for _ in range(2)]
        assert re.search(r"listening on ws://127\.0\.0\.1:\d+/v2 api_key=\S+$", lines[0].strip()), lines
        config = re.search(r"--stt '([^']+)'", lines[1])
        assert config and "api_key=" in config[1], lines
        eng = speechkit.stt(config[1])
        run = await transcribe(eng, frames_of(synthesize(UTTERANCES, 16000), 16000), conn_options=FAST)
        await eng.aclose()
        assert final_words(run.events) == WORDS
    finally:
        proc.terminate()
        await proc.wait()
