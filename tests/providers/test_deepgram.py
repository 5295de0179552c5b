"""The Deepgram provider against the Deepgram emulator on 127.0.0.1 (no mocks): oracle words go in
through ``speechkit.STT`` and must come back, whatever the emulated server does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, stt
from speechkit_conformance.emulators.deepgram import DeepgramConfig, DeepgramEmulator
from speechkit_conformance.harness import Run, frames_of, push, transcribe
from speechkit_conformance.oracle import synthesize
from speechkit_providers.deepgram import DeepgramOptions, DeepgramProvider

import speechkit
from speechkit import Session
from speechkit.errors import AuthenticationError, ConfigError, InvalidRequestError, ServerError
from speechkit.events import Finished, SpeechEnded, Transcript

E = stt.SpeechEventType
RATE = 16000
FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]
WORDS = [w for u in UTTERANCES for w in u]


def provider(emu: DeepgramEmulator | None = None, **options: Any) -> DeepgramProvider:
    where = {"base_url": emu.url, "api_key": emu.api_key} if emu else {"api_key": "k"}
    return DeepgramProvider(DeepgramOptions(**{**where, **options}))


def oracle(utterances: list[list[str]] = UTTERANCES, rate: int = RATE) -> list[rtc.AudioFrame]:
    return frames_of(synthesize(utterances, rate), rate)


async def run(emu: DeepgramEmulator, frames: list[rtc.AudioFrame] | None = None, **options: Any) -> Run:
    engine = speechkit.STT(provider(emu, **options))
    try:
        return await transcribe(engine, oracle() if frames is None else frames, conn_options=FAST)
    finally:
        await engine.aclose()


def hook_session() -> Session:
    return Session(language="en", sample_rate=RATE, attempt=1, http=None, timeout=5.0)


def results(**fields: Any) -> str:
    words = [{"word": "alpha", "punctuated_word": "Alpha.", "start": 0.1, "end": 0.26, "confidence": 0.9}]
    alt = {"transcript": "Alpha.", "confidence": 0.9, "words": words}
    return json.dumps(
        {"type": "Results", "start": 0.0, "duration": 0.5, "channel": {"alternatives": [alt]}, **fields}
    )


# -- config string and query ------------------------------------------------------------------


def test_the_config_strings_model_part_is_the_model_and_a_bad_rate_names_the_accepted_ones() -> None:
    engine = speechkit.stt("deepgram/nova-2-phonecall:en-US?api_key=k")
    assert isinstance(engine.hooks, DeepgramProvider) and engine.hooks.options.model == "nova-2-phonecall"
    with pytest.raises(ConfigError, match="sample_rate"):
        speechkit.stt("deepgram?api_key=k&sample_rate=11025")


def test_a_missing_key_fails_when_the_string_is_parsed_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="DEEPGRAM_API_KEY"):
        speechkit.stt("deepgram/nova-3:en")


def test_durations_are_seconds_in_options_and_milliseconds_on_the_wire() -> None:
    url = provider(endpointing=0.3, utterance_end=1.5).url(hook_session())
    assert "endpointing=300" in url and "utterance_end_ms=1500" in url
    assert "endpointing=false" in provider(endpointing=0).url(hook_session())


def test_utterance_end_is_not_asked_for_without_interims_which_it_needs() -> None:
    assert "utterance_end_ms" not in provider(interim_results=False).url(hook_session())


def test_keyterms_go_as_keyterm_on_nova_3_and_as_keywords_on_older_models() -> None:
    assert "keyterm=Acme&keyterm=LiveKit" in provider(keyterms="Acme|LiveKit").url(hook_session())
    assert "keywords=Acme&keywords=LiveKit" in provider(model="nova-2", keyterms="Acme|LiveKit").url(
        hook_session()
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"endpointing": 0},
        {"model": "nova-2", "keyterms": "Acme"},
        {"interim_results": False},
        {"diarization": True},
    ],
)
async def test_every_query_the_provider_builds_is_one_the_emulator_accepts(options: dict[str, Any]) -> None:
    async with DeepgramEmulator() as emu:
        result = await run(emu, **options)
    assert emu.sessions[0].status == 101 and result.final_words == WORDS


async def test_the_key_goes_as_a_token_authorization() -> None:
    async with DeepgramEmulator() as emu:
        await run(emu)
    assert emu.sessions[0].headers["Authorization"] == f"Token {emu.api_key}"


# -- streams against the emulator ----------------------------------------------------------------


@pytest.mark.parametrize("speed", [None, 4.0], ids=["burst", "paced"])
async def test_each_utterance_is_one_final_between_one_start_and_one_end(speed: float | None) -> None:
    async with DeepgramEmulator() as emu:
        engine = speechkit.STT(provider(emu))
        result = await transcribe(engine, oracle(), speed=speed, conn_options=FAST)
        await engine.aclose()
    assert [f.text for f in result.finals] == ["alpha bravo", "charlie delta echo"]
    assert result.types.count(E.START_OF_SPEECH) == result.types.count(E.END_OF_SPEECH) == 2


async def test_mulaw_at_8_khz_is_transcribed() -> None:
    async with DeepgramEmulator() as emu:
        result = await run(emu, oracle(rate=8000), encoding="pcm_mulaw", sample_rate=8000)
    assert emu.sessions[0].query["encoding"] == "mulaw" and result.final_words == WORDS


async def test_finals_carry_word_times_and_the_diarized_speaker() -> None:
    async with DeepgramEmulator() as emu:
        result = await run(emu, diarization=True)
    first = result.finals[0]
    assert first.speaker_id == "S0" and abs(first.start_time - 0.1) <= 0.03 and len(first.words or []) == 2


async def test_flush_finalises_the_pending_words_before_the_input_ends() -> None:
    async with DeepgramEmulator() as emu:
        engine = speechkit.STT(provider(emu))
        stream = engine.stream(conn_options=FAST)
        await push(stream, oracle([["alpha", "bravo"]])[:20], end_input=False)  # 0.4 s: "alpha" only
        stream.flush()
        final = await asyncio.wait_for(anext(e async for e in stream if e.type == E.FINAL_TRANSCRIPT), 5)
        await stream.aclose()
        await engine.aclose()
    assert final.alternatives[0].text == "alpha"
    assert '{"type": "Finalize"}' in emu.sessions[0].texts


async def test_keepalives_hold_a_silent_connection_past_the_idle_timeout() -> None:
    class Eager(DeepgramProvider):
        keepalive_interval = 0.2

    async with DeepgramEmulator(DeepgramConfig(idle_timeout=0.6)) as emu:
        engine = speechkit.STT(Eager(DeepgramOptions(base_url=emu.url, api_key=emu.api_key)))
        stream = engine.stream(conn_options=FAST)
        await push(stream, oracle([["alpha"]]), end_input=False)
        await asyncio.sleep(1.5)  # silence: only KeepAlives go out
        await push(stream, [])
        finals = [e async for e in stream if e.type == E.FINAL_TRANSCRIPT]
        await engine.aclose()
    assert len(emu.sessions) == 1 and [f.alternatives[0].text for f in finals] == ["alpha"]
    assert '{"type": "KeepAlive"}' in emu.sessions[0].texts


async def test_without_keepalives_the_idle_timeout_closes_1011_with_reason_net_0001() -> None:
    async with DeepgramEmulator(DeepgramConfig(idle_timeout=0.3)) as emu:
        engine = speechkit.STT(provider(emu))
        stream = engine.stream(conn_options=FAST)
        await push(stream, oracle([["alpha"]]), end_input=False)
        assert await _ended(emu)
        await stream.aclose()
        await engine.aclose()
    assert (emu.sessions[0].close_code, emu.sessions[0].close_reason) == (1011, "NET-0001")


async def _ended(emu: DeepgramEmulator) -> bool:
    for _ in range(200):
        if emu.sessions and emu.sessions[0].ended_by:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_wrong_key_is_an_authentication_error_and_is_not_retried() -> None:
    async with DeepgramEmulator() as emu:
        engine = speechkit.STT(DeepgramProvider(DeepgramOptions(base_url=emu.url, api_key="wrong")))
        with pytest.raises(AuthenticationError, match="401"):
            await transcribe(engine, oracle(), conn_options=FAST)
        await engine.aclose()
    assert len(emu.sessions) == 1 and emu.sessions[0].headers.get("Authorization") == "Token wrong"


async def test_a_refused_handshake_shows_deepgrams_dg_error_reason_and_is_not_retried() -> None:
    async with DeepgramEmulator(DeepgramConfig(custom_models=())) as emu:
        engine = speechkit.STT(provider(emu, model="my-custom-model"))
        with pytest.raises(InvalidRequestError, match="dg-error: No such model"):
            await transcribe(engine, oracle(), conn_options=FAST)
        await engine.aclose()
    assert [s.status for s in emu.sessions] == [400]


# -- parsing --------------------------------------------------------------------------------------


def test_a_speech_final_result_closes_the_utterance_and_spells_words_as_punctuated() -> None:
    (ev,) = provider().parse(results(is_final=True, speech_final=True), hook_session())
    assert isinstance(ev, Transcript) and ev.end_of_utterance and ev.words[0].text == "Alpha."


def test_a_final_without_speech_final_or_from_finalize_leaves_the_utterance_open() -> None:
    (ev,) = provider().parse(results(is_final=True, speech_final=False), hook_session())
    assert isinstance(ev, Transcript) and ev.is_final and not ev.end_of_utterance
    (flushed,) = provider().parse(
        results(is_final=True, speech_final=False, from_finalize=True), hook_session()
    )
    assert isinstance(flushed, Transcript) and flushed.end_of_utterance


def test_utterance_end_is_the_end_of_speech_at_the_last_word() -> None:
    message = json.dumps({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 2.5})
    assert list(provider().parse(message, hook_session())) == [SpeechEnded(2.5)]


def test_metadata_finishes_the_stream_only_after_close_stream() -> None:
    p, session = provider(), hook_session()
    message = json.dumps({"type": "Metadata", "request_id": "r", "duration": 1.0, "channels": 1})
    assert list(p.parse(message, session)) == []
    session.input_ended = True  # the core sets it before it sends CloseStream
    assert list(p.parse(message, session)) == [Finished()]


def test_a_schema_error_is_final_and_another_error_is_retried() -> None:
    schema = json.dumps({"type": "Error", "variant": "SchemaError", "description": "bad message"})
    with pytest.raises(InvalidRequestError, match="SchemaError: bad message"):
        list(provider().parse(schema, hook_session()))
    with pytest.raises(ServerError):
        list(provider().parse(json.dumps({"type": "Error", "variant": "Internal"}), hook_session()))


def test_close_reasons_are_explained_and_classified() -> None:
    idle = provider().classify_close(1011, "NET-0001", hook_session())
    assert isinstance(idle, ServerError) and idle.retryable and "no audio or KeepAlive" in str(idle)
    assert isinstance(provider().classify_close(1008, "DATA-0000", hook_session()), InvalidRequestError)
    assert provider().classify_close(1000, "", hook_session()) is None


# -- live updates -----------------------------------------------------------------------------------


async def _update_mid_stream(emu: DeepgramEmulator, model: str = "nova-3", **changes: Any) -> Run:
    engine = speechkit.STT(provider(emu, model=model))
    stream = engine.stream(conn_options=FAST)
    frames = oracle()
    await push(stream, frames[: len(frames) // 2], speed=4.0, end_input=False)
    stream.update_options(**changes)
    await push(stream, frames[len(frames) // 2 :], speed=4.0)
    result = Run([ev async for ev in stream], 0)
    await stream.aclose()
    await engine.aclose()
    return result


async def test_new_keyterms_on_nova_3_go_as_configure_without_reconnecting() -> None:
    async with DeepgramEmulator() as emu:
        result = await _update_mid_stream(emu, keyterms=("Acme", "LiveKit"))
    session = emu.sessions[0]
    assert len(emu.sessions) == 1 and result.final_words == WORDS
    assert '{"type": "Configure", "keyterms": ["Acme", "LiveKit"]}' in session.texts
    assert any('"ConfigureSuccess"' in m for m in session.sent)


async def test_new_keyterms_on_an_older_model_reconnect_with_them_as_keywords() -> None:
    async with DeepgramEmulator() as emu:
        result = await _update_mid_stream(emu, model="nova-2", keyterms=("Acme",))
    assert [s.query.get("keywords") for s in emu.sessions] == [None, "Acme"] and result.final_words == WORDS
