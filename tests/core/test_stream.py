"""The streaming core over an in-process fake provider: grammar, drain, aclose,
resampling, framing, usage, timestamps, reconnect with replay."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from fakes import RATE, FakeOptions, FakeProvider, frames, speech
from livekit import rtc
from livekit.agents import APIConnectOptions, stt

import speechkit

E = stt.SpeechEventType
FAST_RETRY = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
UTTERANCES = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]


async def run(
    engine: speechkit.STT,
    pushed: list[rtc.AudioFrame],
    flush_at: int | None = None,
    conn_options: APIConnectOptions = FAST_RETRY,
) -> list[stt.SpeechEvent]:
    stream = engine.stream(conn_options=conn_options)
    for i, f in enumerate(pushed):
        stream.push_frame(f)
        if i == flush_at:
            stream.flush()
    stream.end_input()
    out = [ev async for ev in stream]
    await stream.aclose()
    return out


def final_words(events: list[stt.SpeechEvent]) -> list[str]:
    return [w for e in events if e.type == E.FINAL_TRANSCRIPT for w in e.alternatives[0].text.split()]


def expected(utterances: list[list[int]]) -> list[str]:
    return [f"w{k}" for u in utterances for k in u]


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider(FakeOptions())


async def test_words_in_equal_words_out(provider: FakeProvider) -> None:
    events = await run(speechkit.STT(provider), frames(speech(UTTERANCES)))
    assert final_words(events) == expected(UTTERANCES)


async def test_each_utterance_follows_the_grammar(provider: FakeProvider) -> None:
    events = await run(speechkit.STT(provider), frames(speech(UTTERANCES)))
    kinds = [e.type for e in events if e.type != E.RECOGNITION_USAGE]
    per_utterance = [E.START_OF_SPEECH, E.INTERIM_TRANSCRIPT, E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]
    collapsed = [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]]
    assert collapsed == per_utterance * len(UTTERANCES)


async def test_end_input_drains_the_last_words_final(provider: FakeProvider) -> None:
    # the audio ends mid-utterance, with no trailing silence to end it
    audio = speech([[1, 2], [3, 4]])[: -int(0.4 * RATE) - int(0.06 * RATE)]
    events = await run(speechkit.STT(provider), frames(audio))
    assert final_words(events) == ["w1", "w2", "w3", "w4"]
    assert events[-2].type == E.END_OF_SPEECH or events[-1].type == E.END_OF_SPEECH


async def test_flush_finalises_the_current_segment(provider: FakeProvider) -> None:
    audio = np.concatenate([speech([[1, 2]])[: -int(0.4 * RATE)], speech([[3]], lead=0.0)])
    pushed = frames(audio)
    flush_at = int((0.1 + 2 * 0.18) * RATE) // 320  # just after the second word
    events = await run(speechkit.STT(provider), pushed, flush_at=flush_at)
    finals = [e.alternatives[0].text for e in events if e.type == E.FINAL_TRANSCRIPT]
    assert finals[0] == "w1 w2"


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
async def test_any_input_rate_is_resampled_to_the_providers(provider: FakeProvider, rate: int) -> None:
    audio = speech(UTTERANCES, rate=rate)
    events = await run(speechkit.STT(provider), frames(audio, rate=rate, size=rate // 50))
    assert final_words(events) == expected(UTTERANCES)
    sent_seconds = len(provider.audio_bytes()) / 2 / RATE
    assert sent_seconds == pytest.approx(len(audio) / rate, abs=0.01)


async def test_stereo_is_mixed_down(provider: FakeProvider) -> None:
    events = await run(speechkit.STT(provider), frames(speech(UTTERANCES), channels=2))
    assert final_words(events) == expected(UTTERANCES)


async def test_audio_reaches_the_provider_exactly_once_in_order(provider: FakeProvider) -> None:
    audio = speech(UTTERANCES)
    sizes = [7, 160, 333, 1000, 1]
    pushed, i, n = [], 0, 0
    while i < len(audio):
        part = audio[i : i + sizes[n % len(sizes)]]
        pushed.append(rtc.AudioFrame(part.tobytes(), RATE, 1, len(part)))
        i, n = i + len(part), n + 1
    await run(speechkit.STT(provider), pushed)
    assert provider.audio_bytes() == audio.tobytes()
    chunks = [m for m in provider.received if isinstance(m, bytes)]
    assert {len(c) for c in chunks[:-1]} == {int(RATE * provider.chunk_duration) * 2}


async def test_usage_reports_the_seconds_sent(provider: FakeProvider) -> None:
    audio = speech(UTTERANCES * 3)
    events = await run(speechkit.STT(provider), frames(audio))
    usage = sum(e.recognition_usage.audio_duration for e in events if e.type == E.RECOGNITION_USAGE)
    assert usage == pytest.approx(len(audio) / RATE, abs=provider.chunk_duration)


async def test_timestamps_are_on_one_increasing_stream_clock(provider: FakeProvider) -> None:
    events = await run(speechkit.STT(provider), frames(speech(UTTERANCES)))
    finals = [e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT]
    starts = [f.start_time for f in finals]
    assert starts == sorted(starts) and starts[0] == pytest.approx(0.1, abs=0.01)
    assert all(f.words and f.words[0].start_time == f.start_time for f in finals)


async def test_a_dropped_connection_reconnects_without_losing_or_repeating_words() -> None:
    provider = FakeProvider(FakeOptions(drop_after=1.5))
    audio = speech(UTTERANCES)
    events = await run(speechkit.STT(provider), frames(audio))
    assert provider.connects == 2
    assert final_words(events) == expected(UTTERANCES)
    finals = [e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT]
    assert [f.start_time for f in finals] == sorted(f.start_time for f in finals)
    assert finals[-1].end_time == pytest.approx(len(audio) / RATE - 0.4 - 0.06, abs=0.02)


async def test_a_sample_rate_change_is_refused_and_keeps_what_was_pushed(provider: FakeProvider) -> None:
    stream = speechkit.STT(provider).stream(conn_options=FAST_RETRY)
    for f in frames(speech([[1, 2]])):
        stream.push_frame(f)
    with pytest.raises(ValueError, match="sample rate changed"):
        stream.push_frame(frames(speech([[3]], rate=8000), rate=8000)[0])
    stream.end_input()
    assert final_words([ev async for ev in stream]) == ["w1", "w2"]


async def test_pushing_after_end_input_raises(provider: FakeProvider) -> None:
    stream = speechkit.STT(provider).stream()
    stream.end_input()
    with pytest.raises(RuntimeError, match="input ended"):
        stream.push_frame(frames(speech([[1]]))[0])
    await stream.aclose()


@pytest.mark.parametrize("stage", ["fresh", "mid_audio", "after_end_input", "after_drain"])
async def test_aclose_returns_promptly_at_every_stage(provider: FakeProvider, stage: str) -> None:
    stream = speechkit.STT(provider).stream()
    if stage != "fresh":
        for f in frames(speech(UTTERANCES))[:40]:
            stream.push_frame(f)
        await asyncio.sleep(0.05)
    if stage in ("after_end_input", "after_drain"):
        stream.end_input()
    if stage == "after_drain":
        _ = [ev async for ev in stream]
    t0 = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - t0 < 0.5


async def test_recognize_streams_the_buffer(provider: FakeProvider) -> None:
    buffer = frames(speech(UTTERANCES))
    ev = await speechkit.STT(provider).recognize(buffer)
    assert ev.type == E.FINAL_TRANSCRIPT
    assert ev.alternatives[0].text.split() == expected(UTTERANCES)


async def test_metrics_report_final_latency(provider: FakeProvider) -> None:
    engine = speechkit.STT(provider)
    seen: list[object] = []
    engine.on("metrics_collected", seen.append)
    await run(engine, frames(speech(UTTERANCES)))
    latencies = [m.final_latency for m in seen if getattr(m, "final_latency", None) is not None]
    assert len(latencies) == len(UTTERANCES) and all(0 <= x < 5 for x in latencies)


class _KeepAliveProvider(FakeProvider):
    keepalive_interval = 0.05

    def keepalive_message(self, session: speechkit.Session) -> object:
        return "keepalive"


async def test_a_keepalive_is_sent_while_the_caller_pushes_nothing() -> None:
    provider = _KeepAliveProvider(FakeOptions())
    stream = speechkit.STT(provider).stream()
    await asyncio.sleep(0.3)
    stream.end_input()
    _ = [ev async for ev in stream]
    assert provider.received.count("keepalive") >= 3


async def test_replay_audio_is_bounded_and_the_trim_is_logged_once(
    provider: FakeProvider, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speechkit.stream import MAX_REPLAY_SECONDS, replay

    monkeypatch.setattr(replay, "REPLAY_WAIT", 0.05)  # a server that never finalises: stop waiting soon
    caplog.set_level("INFO", logger="speechkit")
    stream = speechkit.STT(provider).stream()
    one_word = np.full(int(1.0 * RATE), 1000, np.int16)  # speech with no pause: no final
    for _ in range(int(MAX_REPLAY_SECONDS) + 5):
        for f in frames(one_word, size=1600):
            stream.push_frame(f)
        await asyncio.sleep(0)
    await asyncio.sleep(1.0)
    kept = stream.unconfirmed_seconds
    await stream.aclose()
    assert kept <= MAX_REPLAY_SECONDS + 0.1
    assert sum("await a final" in r.getMessage() for r in caplog.records) == 1


async def test_a_server_that_finalises_nothing_stalls_the_audio_once_not_per_chunk(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speechkit.stream import replay

    monkeypatch.setattr(replay, "MAX_REPLAY_SECONDS", 2.0)
    monkeypatch.setattr(replay, "REPLAY_WAIT", 0.3)
    stream = speechkit.STT(provider).stream()
    for f in frames(np.full(int(6.0 * RATE), 1000, np.int16), size=1600):  # no pause: no final
        stream.push_frame(f)
    # 40 chunks beyond the room: waiting REPLAY_WAIT for each would take 12 s
    await asyncio.sleep(2.0)
    sent = stream.sent_seconds
    await stream.aclose()
    assert sent == pytest.approx(6.0, abs=0.11)


async def test_audio_pushed_faster_than_finals_come_waits_instead_of_being_dropped(
    provider: FakeProvider, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speechkit.stream import replay

    monkeypatch.setattr(replay, "MAX_REPLAY_SECONDS", 2.0)  # room for two utterances, not twelve
    caplog.set_level("INFO", logger="speechkit")
    utterances = [[1, 2], [3], [4, 5], [6]] * 3  # ~6 s of speech, pushed at once
    events = await run(speechkit.STT(provider), frames(speech(utterances)))
    finals = [e.alternatives[0].text for e in events if e.type == E.FINAL_TRANSCRIPT]
    assert " ".join(finals).split() == [f"w{w}" for u in utterances for w in u]
    assert not any("await a final" in r.getMessage() for r in caplog.records), "audio was trimmed"


async def test_a_drop_while_sending_a_large_frame_loses_none_of_its_chunks() -> None:
    # one pushed frame spans many provider chunks; the drop strikes between two of them
    provider = FakeProvider(FakeOptions(drop_after=1.5))
    events = await run(speechkit.STT(provider), frames(speech(UTTERANCES), size=RATE))
    assert provider.connects == 2
    assert final_words(events) == expected(UTTERANCES)


async def test_update_options_reconnects_with_them_and_loses_no_word(provider: FakeProvider) -> None:
    stream = speechkit.STT(provider).stream(conn_options=FAST_RETRY)
    pushed = frames(speech(UTTERANCES))
    half = len(pushed) // 2
    for f in pushed[:half]:
        stream.push_frame(f)
    await asyncio.sleep(0.05)
    stream.update_options(language="de", interim_results=False)
    for f in pushed[half:]:
        stream.push_frame(f)
    stream.end_input()
    events = [ev async for ev in stream]
    updated = stream.provider
    assert updated is not provider and updated.options.interim_results is False
    assert provider.connects == 1 and updated.connects == 1  # one reconnect, not counted as a failure
    assert final_words(events) == expected(UTTERANCES)
    assert events[-2].type == E.END_OF_SPEECH or events[-1].type == E.END_OF_SPEECH
    finals = [e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT]
    assert finals[-1].language == "de"


async def test_update_options_refuses_bad_values_and_keeps_streaming(provider: FakeProvider) -> None:
    stream = speechkit.STT(provider).stream()
    with pytest.raises(speechkit.ConfigError, match="no option 'interim'"):
        stream.update_options(interim=False)
    with pytest.raises(speechkit.ConfigError, match="sample_rate cannot change"):
        stream.update_options(sample_rate=8000)
    for f in frames(speech([[1, 2]])):
        stream.push_frame(f)
    stream.end_input()
    assert final_words([ev async for ev in stream]) == ["w1", "w2"]
    assert stream.provider is provider


async def test_stt_update_options_applies_to_open_and_new_streams(provider: FakeProvider) -> None:
    engine = speechkit.STT(provider)
    open_stream = engine.stream()
    engine.update_options(language="fr")
    assert engine.language == "fr" and engine.stream().language == "fr"
    assert open_stream.language == "fr"
    await engine.aclose()


class _QuietAtEndProvider(FakeProvider):
    """A server that says nothing after end of input (no Finished, stays open: Telnyx mode b)."""

    drain_timeout = 0.2

    def end_of_input_message(self, session: speechkit.Session) -> None:
        return None


async def test_a_server_silent_after_end_of_input_ends_the_stream_after_the_drain_timeout() -> None:
    stream = speechkit.STT(_QuietAtEndProvider(FakeOptions())).stream()
    for f in frames(speech(UTTERANCES)):  # ends in a pause: every final comes before end_input
        stream.push_frame(f)
    await asyncio.sleep(0.3)
    stream.end_input()
    async with asyncio.timeout(2.0):
        events = [ev async for ev in stream]
    assert final_words(events) == expected(UTTERANCES)
