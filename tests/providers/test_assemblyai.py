"""The AssemblyAI provider against the AssemblyAI emulator on 127.0.0.1 (no mocks): oracle words go
in through ``speechkit.STT`` and must come back, whatever the emulated server does."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, stt
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.assemblyai import AssemblyAIConfig, AssemblyAIEmulator
from speechkit_conformance.harness import Run, frames_of, push, transcribe
from speechkit_conformance.oracle import synthesize
from speechkit_providers.assemblyai import FORMAT_WAIT, AssemblyAIOptions, AssemblyAIProvider

import speechkit
from speechkit import Session
from speechkit.errors import APIError, ConfigError

E = stt.SpeechEventType
RATE = 16000
FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]
WORDS = [w for u in UTTERANCES for w in u]


def engine(emu: AssemblyAIEmulator, **options: Any) -> speechkit.STT:
    values: dict[str, Any] = {"base_url": emu.url, "api_key": emu.api_key, **options}
    return speechkit.STT(AssemblyAIProvider(AssemblyAIOptions(**values)))


def oracle(utterances: list[list[str]] = UTTERANCES, rate: int = RATE) -> list[rtc.AudioFrame]:
    return frames_of(synthesize(utterances, rate), rate)


async def run(emu: AssemblyAIEmulator, frames: list[rtc.AudioFrame] | None = None, **options: Any) -> Run:
    stt_ = engine(emu, **options)
    try:
        return await transcribe(stt_, oracle() if frames is None else frames, conn_options=FAST)
    finally:
        await stt_.aclose()


def hook_session(provider: AssemblyAIProvider, language: str = "en") -> Session:
    return Session(language=language, sample_rate=provider.sample_rate, attempt=1, http=None, timeout=5.0)


# -- connect --------------------------------------------------------------------------------------


async def test_the_query_has_the_model_json_keyterms_and_lowercase_booleans_with_case_kept() -> None:
    async with AssemblyAIEmulator() as emu:
        await run(emu, keyterms=("LiveKit", "Speechmatics"), format_turns=True, language_detection=False)
    raw, query = emu.sessions[0].raw_query, emu.sessions[0].query
    assert query["speech_model"] == "universal-streaming-english" and query["sample_rate"] == "16000"
    # JSON, case kept (docs/protocols/assemblyai.md §2.2)
    assert query["keyterms_prompt"] == '["LiveKit", "Speechmatics"]'
    assert "format_turns=true" in raw and "language_detection=false" in raw


def test_the_url_encodes_the_query_as_the_livekit_plugin_does() -> None:
    provider = AssemblyAIProvider(AssemblyAIOptions(api_key="k", keyterms=("LiveKit", "Speechmatics")))
    assert "&keyterms_prompt=%5B%22LiveKit%22%2C+%22Speechmatics%22%5D" in provider.url(
        hook_session(provider)
    )


async def test_the_raw_key_goes_in_authorization_without_bearer() -> None:
    async with AssemblyAIEmulator() as emu:
        await run(emu)
    assert emu.sessions[0].headers["Authorization"] == emu.api_key


async def test_a_temporary_token_goes_in_the_query_and_no_key_is_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    async with AssemblyAIEmulator() as emu:
        token = emu.config.tokens[0]
        provider = AssemblyAIProvider(AssemblyAIOptions(base_url=emu.url, token=token))
        run_ = await transcribe(speechkit.STT(provider), oracle(), conn_options=FAST)
    assert emu.sessions[0].query["token"] == token and "Authorization" not in emu.sessions[0].headers
    assert run_.final_words == WORDS


async def test_a_temporary_token_opens_one_session_only() -> None:
    async with AssemblyAIEmulator() as emu:
        token = emu.config.tokens[0]
        await run(emu, api_key=None, token=token)
        with pytest.raises(APIError) as info:
            await run(emu, api_key=None, token=token)
    assert info.value.retryable is False and emu.sessions[1].close_code == 1008


def test_the_region_picks_the_host_and_base_url_overrides_it() -> None:
    eu = AssemblyAIProvider(AssemblyAIOptions(api_key="k", region="eu"))
    assert eu.url(hook_session(eu)).startswith("wss://streaming.eu.assemblyai.com/v3/ws?")
    own = AssemblyAIProvider(AssemblyAIOptions(api_key="k", base_url="ws://127.0.0.1:9/v3/ws"))
    assert own.url(hook_session(own)).startswith("ws://127.0.0.1:9/v3/ws?speech_model=")


def test_the_config_string_reaches_the_options_and_a_bad_model_names_the_accepted_ones() -> None:
    engine_ = speechkit.stt("assemblyai/u3-rt-pro:es?api_key=k&keyterms=Acme|LiveKit&diarization=true")
    options = engine_.hooks.options
    assert (options.model, options.language, options.keyterms) == ("u3-rt-pro", "es", ("Acme", "LiveKit"))
    assert engine_.capabilities.diarization
    with pytest.raises(ConfigError, match="universal-streaming-english"):
        speechkit.stt("assemblyai/nova-3:en?api_key=k")


def test_a_missing_key_fails_when_the_string_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ASSEMBLYAI_API_KEY"):
        speechkit.stt("assemblyai:en")


# -- framing --------------------------------------------------------------------------------------


async def test_no_chunk_outside_50_to_1000_ms_reaches_the_server_even_after_flushes() -> None:
    pcm = synthesize(UTTERANCES, RATE)
    cut = int(0.91 * RATE)  # a flush here leaves a 10 ms tail
    async with AssemblyAIEmulator(AssemblyAIConfig(strict_chunks=True)) as emu:
        stream = engine(emu).stream(conn_options=FAST)
        await push(stream, frames_of(pcm[:cut], RATE), end_input=False)
        stream.flush()
        await push(stream, frames_of(pcm[cut:], RATE))
        events = [ev async for ev in stream]
        await stream.aclose()
    session = emu.sessions[0]
    assert {len(b) for b in session.binary} == {1600} and session.close_code == 1000
    assert Run(events, 0).final_words == WORDS


async def test_the_stream_clock_skips_the_silence_padding_a_flush_adds() -> None:
    pcm = synthesize(UTTERANCES, RATE)  # "charlie" starts at 1.0 s of pushed audio
    cut = int(0.91 * RATE)  # the flush pads 40 ms, so the server hears charlie at 1.04 s
    async with AssemblyAIEmulator() as emu:
        stream = engine(emu).stream(conn_options=FAST)
        await push(stream, frames_of(pcm[:cut], RATE), end_input=False)
        stream.flush()
        await push(stream, frames_of(pcm[cut:], RATE))
        run_ = Run([ev async for ev in stream], 0)
        await stream.aclose()
    charlie = next(start for start, _, final in run_.word_spans if final.text.startswith("charlie"))
    assert abs(charlie - 1.0) <= 0.021, charlie


async def test_a_flush_sends_force_endpoint_and_the_end_of_input_terminate() -> None:
    async with AssemblyAIEmulator() as emu:
        stt_ = engine(emu)
        stream = stt_.stream(conn_options=FAST)
        await push(stream, oracle([["foxtrot", "golf"]]), end_input=False)
        stream.flush()
        stream.end_input()
        events = [ev async for ev in stream]
        await stream.aclose()
    kinds = [json.loads(t)["type"] for t in emu.sessions[0].texts]  # end_input flushes too (livekit)
    assert kinds[0] == "ForceEndpoint" and kinds[-1] == "Terminate" and set(kinds[1:-1]) <= {"ForceEndpoint"}
    assert Run(events, 0).final_words == ["foxtrot", "golf"]


async def test_the_stream_ends_on_termination_without_waiting_for_the_drain_timeout() -> None:
    async with AssemblyAIEmulator() as emu:
        t0 = time.monotonic()
        run_ = await run(emu)
    assert time.monotonic() - t0 < AssemblyAIProvider.drain_timeout
    assert json.loads(emu.sessions[0].sent[-1])["type"] == "Termination" and run_.final_words == WORDS


async def test_mulaw_at_8_khz_goes_as_one_byte_a_sample_and_is_transcribed() -> None:
    async with AssemblyAIEmulator() as emu:
        run_ = await run(emu, oracle(rate=8000), sample_rate=8000, encoding="pcm_mulaw")
    session = emu.sessions[0]
    assert session.query["encoding"] == "pcm_mulaw" and {len(b) for b in session.binary} == {400}
    assert run_.final_words == WORDS


async def test_with_an_inactivity_timeout_silence_sends_keepalive() -> None:
    quick = type("QuickKeepAlive", (AssemblyAIProvider,), {"keepalive_interval": 0.2})
    async with AssemblyAIEmulator() as emu:
        options = AssemblyAIOptions(base_url=emu.url, api_key=emu.api_key, inactivity_timeout=10)
        stream = speechkit.STT(quick(options)).stream(conn_options=FAST)
        await push(stream, oracle([["foxtrot", "golf"]]), end_input=False)
        await asyncio.sleep(0.6)
        await stream.aclose()
    assert emu.sessions[0].query["inactivity_timeout"] == "10"
    assert '{"type": "KeepAlive"}' in emu.sessions[0].texts


async def test_the_emulator_closes_an_idle_session_after_its_inactivity_timeout() -> None:
    async with AssemblyAIEmulator() as emu, aiohttp.ClientSession() as http:
        url = f"{emu.url}/v3/ws?sample_rate=16000&speech_model=u3-rt-pro&inactivity_timeout=1"
        async with http.ws_connect(url, headers={"Authorization": emu.api_key}) as ws:
            assert (await ws.receive_json())["type"] == "Begin"
            t0 = time.monotonic()
            message = await ws.receive_json()
            await ws.receive()
    assert message["type"] == "Error" and ws.close_code == 3005 and 0.5 <= time.monotonic() - t0 < 3.0


# -- parsing --------------------------------------------------------------------------------------


async def test_interims_carry_the_non_final_tail_and_finals_word_times_on_the_stream_clock() -> None:
    async with AssemblyAIEmulator() as emu:
        run_ = await run(emu)
    interims = [e.alternatives[0].text for e in run_.of(E.INTERIM_TRANSCRIPT)]
    assert interims[:2] == ["alpha", "alpha bravo"]  # "bravo" is still non-final in the second
    spans = [(round(s, 2), round(e, 2)) for s, e, _ in run_.word_spans]
    assert spans[0] == (0.1, 0.26) and spans[2][0] == 1.0


async def test_format_turns_gives_one_formatted_final_per_turn() -> None:
    async with AssemblyAIEmulator() as emu:
        run_ = await run(emu, format_turns=True)
    assert [f.text for f in run_.finals] == ["Alpha bravo.", "Charlie delta echo."]


async def test_without_its_formatted_twin_the_unformatted_final_comes_after_a_bounded_wait() -> None:
    async with AssemblyAIEmulator(AssemblyAIConfig(formatted_twins=False)) as emu:
        stream = engine(emu, format_turns=True).stream(conn_options=FAST)
        await push(stream, oracle([["foxtrot", "golf"]]), end_input=False)  # input stays open
        t0 = time.monotonic()
        final = None
        async with asyncio.timeout(FORMAT_WAIT + 3.0):
            async for ev in stream:
                if ev.type == E.FINAL_TRANSCRIPT:
                    final = ev
                    break
        await stream.aclose()
    assert final is not None and final.alternatives[0].text == "foxtrot golf"
    assert time.monotonic() - t0 >= FORMAT_WAIT - 0.5


async def test_the_u3_family_sends_speech_started_and_formatted_finals() -> None:
    async with AssemblyAIEmulator() as emu:
        run_ = await run(emu, model="u3-rt-pro")
    assert sum('"SpeechStarted"' in m for m in emu.sessions[0].sent) == 2
    assert [f.text for f in run_.finals] == ["Alpha bravo.", "Charlie delta echo."]


async def test_diarization_labels_every_final_with_its_speaker() -> None:
    async with AssemblyAIEmulator() as emu:
        run_ = await run(emu, diarization=True)
    assert emu.sessions[0].query["speaker_labels"] == "true" and {f.speaker_id for f in run_.finals} == {"A"}


async def test_language_detection_reports_the_turns_language() -> None:
    async with AssemblyAIEmulator() as emu:
        run_ = await run(
            emu, model="universal-streaming-multilingual", language="es", language_detection=True
        )
    assert emu.sessions[0].query["language_codes"] == '["es"]' and {f.language for f in run_.finals} == {"es"}


# -- live updates and session lifetime -------------------------------------------------------------


async def _update_mid_stream(emu: AssemblyAIEmulator, **changes: Any) -> Run:
    stream = engine(emu).stream(conn_options=FAST)
    frames = oracle()
    await push(stream, frames[: len(frames) // 2], speed=4.0, end_input=False)
    stream.update_options(**changes)
    await push(stream, frames[len(frames) // 2 :], speed=4.0)
    run_ = Run([ev async for ev in stream], 0)
    await stream.aclose()
    return run_


async def test_updating_endpointing_and_keyterms_sends_update_configuration_without_reconnecting() -> None:
    async with AssemblyAIEmulator() as emu:
        run_ = await _update_mid_stream(emu, max_endpointing=0.8, keyterms=("Acme",))
    assert len(emu.sessions) == 1 and run_.final_words == WORDS
    assert emu.sessions[0].state.updates == [{"max_turn_silence": 800, "keyterms_prompt": ["Acme"]}]


async def test_updating_the_model_reconnects_with_it_and_loses_no_word() -> None:
    async with AssemblyAIEmulator() as emu:
        run_ = await _update_mid_stream(emu, model="universal-streaming-multilingual")
    assert [s.query["speech_model"] for s in emu.sessions] == [
        "universal-streaming-english",
        "universal-streaming-multilingual",
    ]
    assert run_.final_words == WORDS


async def test_a_session_about_to_expire_moves_to_a_new_connection_without_losing_words() -> None:
    utterances = [["alpha", "bravo"], ["charlie", "delta"], ["echo", "foxtrot"], ["golf", "hotel"], ["india"]]
    async with AssemblyAIEmulator(AssemblyAIConfig(max_session_duration=3.0)) as emu:
        stt_ = engine(emu)
        run_ = await transcribe(stt_, oracle(utterances), speed=1.0, conn_options=FAST)
        await stt_.aclose()
    assert len(emu.sessions) >= 2 and all(s.close_code != 3008 for s in emu.sessions)
    assert run_.final_words == [w for u in utterances for w in u]


# -- errors ---------------------------------------------------------------------------------------


def _error_plan(code: int, text: str, **plan: Any) -> FaultPlan:
    message = {"type": "Error", "error_code": code, "error": text}
    return FaultPlan(error_message=message, error_close_code=code, **plan)


async def test_an_expired_session_3008_reconnects_without_losing_words() -> None:
    plan = _error_plan(3008, "Session Expired: Maximum session duration exceeded", error_after=1.2)
    async with AssemblyAIEmulator(faults=plan) as emu:
        stt_ = engine(emu)
        run_ = await transcribe(stt_, oracle(), speed=4.0, conn_options=FAST)
        await stt_.aclose()
    assert emu.sessions[0].close_code == 3008 and len(emu.sessions) == 2
    assert run_.final_words == WORDS


async def test_too_many_sessions_3009_is_retried_after_a_backoff() -> None:
    plan = _error_plan(3009, "Unauthorized Connection: Too many concurrent sessions", error_after=0.0)
    async with AssemblyAIEmulator(faults=plan) as emu:
        run_ = await run(emu)
    first, second = emu.sessions
    assert first.close_code == 3009 and second.started - first.started >= FAST.retry_interval / 2
    assert run_.final_words == WORDS


@pytest.mark.parametrize(
    ("code", "text"),
    [(3006, "Input validation error"), (3007, "Input duration violation: 20 ms"), (4001, "Not Authorized")],
)
async def test_invalid_requests_and_auth_errors_fail_without_retry(code: int, text: str) -> None:
    async with AssemblyAIEmulator(
        faults=_error_plan(code, text, error_after=0.0, fault_sessions=None)
    ) as emu:
        with pytest.raises(APIError) as info:
            await run(emu)
    assert info.value.retryable is False and len(emu.sessions) == 1 and str(code) in str(info.value)


async def test_a_close_3007_without_an_error_message_is_not_retried() -> None:
    async with AssemblyAIEmulator(faults=FaultPlan(close_code=3007, fault_sessions=None)) as emu:
        with pytest.raises(APIError) as info:
            await run(emu)
    assert info.value.retryable is False and len(emu.sessions) == 1


async def test_audio_faster_than_real_time_is_refused_with_3007_when_the_emulator_enforces_pace() -> None:
    utterances = [["alpha", "bravo"], ["charlie", "delta"], ["echo", "foxtrot"]]
    async with AssemblyAIEmulator(AssemblyAIConfig(max_realtime_factor=1.2)) as emu:
        with pytest.raises(APIError) as info:
            await run(emu, oracle(utterances * 2))  # about 5 s of audio, pushed at once
        paced = engine(emu)
        run_ = await transcribe(paced, oracle(utterances), speed=1.0, conn_options=FAST)
        await paced.aclose()
    assert info.value.retryable is False and "Rate Exceeded" in str(info.value)
    assert run_.final_words == [w for u in utterances for w in u]


# -- the emulator itself --------------------------------------------------------------------------


async def test_the_emulator_refuses_the_older_plugins_url_without_speech_model() -> None:
    async with AssemblyAIEmulator() as emu, aiohttp.ClientSession() as http:
        url = f"{emu.url}/v3/ws?sample_rate=16000&encoding=pcm_s16le&format_turns=true"
        async with http.ws_connect(url, headers={"Authorization": emu.api_key}) as ws:
            message = await ws.receive_json()
            await ws.receive()
    assert message["error_code"] == 3006 and ws.close_code == 3006


async def test_the_emulator_closes_3007_on_a_chunk_over_1000_ms() -> None:
    async with AssemblyAIEmulator() as emu, aiohttp.ClientSession() as http:
        url = f"{emu.url}/v3/ws?sample_rate=16000&speech_model=universal-streaming-english"
        async with http.ws_connect(url, headers={"Authorization": emu.api_key}) as ws:
            assert (await ws.receive_json())["type"] == "Begin"
            await ws.send_bytes(np.zeros(int(1.2 * RATE), dtype=np.int16).tobytes())
            message = await ws.receive_json()
            await ws.receive()
    assert message["error"].startswith("Input duration violation: 1200 ms") and ws.close_code == 3007


def test_speechkit_emulate_prints_the_url_and_the_key_on_one_line() -> None:
    cmd = [str(Path(sys.executable).with_name("speechkit")), "emulate", "assemblyai"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(2)]
        finally:
            proc.terminate()
    assert "ws://127.0.0.1:" in lines[0]
    line = lines[1]
    assert "base_url=ws://127.0.0.1:" in line and f"api_key={AssemblyAIConfig().api_key}" in line
