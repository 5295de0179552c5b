"""What livekit's ``AgentSession`` and adapters rely on in an STT, found when one ran as a user
runs it (issue 22, part 3): a flush over near-silence yields no words and is answered at once,
usage counts every second sent (closed or ended), a chain's usage is per member, and an STT
nobody closes leaks no HTTP session."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pytest
from fakes import FLUSH, RATE, FakeProvider, InProcessConnection, frames, speech
from livekit.agents import stt
from livekit.agents.metrics import ModelUsageCollector
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.telnyx import TelnyxEmulator
from speechkit_conformance.harness import FAST, OracleAudio, transcribe
from speechkit_providers.telnyx import TelnyxOptions, TelnyxProvider

import speechkit
from speechkit import Session, registry
from speechkit.events import Transcript, Word

E = stt.SpeechEventType
INVENTED = "w99"


class _InventingConnection(InProcessConnection):
    async def send(self, message: object) -> None:
        if message is FLUSH and not self.rec.words:  # nothing to finalise: it invents a word
            at = self.rec.pos / RATE
            word = Word(INVENTED, at - 0.05, at)
            self.out.put_nowait(
                Transcript(INVENTED, True, at - 0.05, at, words=(word,), end_of_utterance=True)
            )
        await super().send(message)


class InventingProvider(FakeProvider):
    """The fake, but a flush over no words makes one up, as Whisper does over near-silence
    (livekit's end-of-turn flush gave "Ask not! Ask not!" from the local engine)."""

    name: ClassVar[str] = "inventing"

    async def connect(self, session: Session) -> InProcessConnection:
        self.connects += 1
        return _InventingConnection(self)


@pytest.fixture(autouse=True)
def fakes_registered() -> Iterator[None]:
    registry.register(FakeProvider)
    registry.register(InventingProvider)
    yield
    registry._runtime.clear()


def near_silence(seconds: float) -> np.ndarray:
    """Noise at about -50 dBFS: a breath, a room; no word."""
    return np.random.default_rng(0).normal(0, 100, int(seconds * RATE)).astype(np.int16)


async def next_final(it: stt.RecognizeStream) -> stt.SpeechEvent:
    while True:
        ev = await asyncio.wait_for(anext(it), 30)  # a guard against a hang, not a speed bound
        if ev.type == E.FINAL_TRANSCRIPT:
            return ev


async def test_a_flush_over_near_silence_after_a_final_produces_no_words() -> None:
    stream = speechkit.stt("inventing").stream()
    for f in frames(speech([[1, 2]])):
        stream.push_frame(f)
    assert (await next_final(stream)).alternatives[0].text == "w1 w2"
    for f in frames(near_silence(0.07)):  # livekit flushes 50 ms after the final
        stream.push_frame(f)
    stream.flush()
    for f in frames(speech([[3]])):
        stream.push_frame(f)
    stream.end_input()
    rest = [ev.alternatives[0].text async for ev in stream if ev.type == E.FINAL_TRANSCRIPT]
    assert INVENTED not in rest
    assert [t for t in rest if t] == ["w3"]


async def test_a_flush_with_nothing_to_finalise_is_answered_by_an_empty_final() -> None:
    # livekit's AgentSession waits for a final after each flush (on close: 2 s, for nothing)
    stream = speechkit.stt("fake").stream()
    for f in frames(speech([[1, 2]])):
        stream.push_frame(f)
    await next_final(stream)
    for f in frames(np.zeros(int(0.5 * RATE), np.int16)):
        stream.push_frame(f)
    stream.flush()
    answer = await next_final(stream)  # nothing else is pushed: only the flush can answer
    assert answer.alternatives[0].text == ""
    await stream.aclose()


async def test_a_flush_over_words_is_answered_by_their_final() -> None:
    stream = speechkit.stt("fake").stream()
    for f in frames(speech([[1, 2]])[: int(0.4 * RATE)]):  # no pause yet: the utterance is open
        stream.push_frame(f)
    stream.flush()
    assert (await next_final(stream)).alternatives[0].text == "w1 w2"
    await stream.aclose()


async def test_the_audio_a_final_covers_is_counted_before_the_final_is_read() -> None:
    # AgentSession stops listening to the STT's metrics once a flush is answered, then closes the
    # stream (agent_activity.py _close_session): usage reported later is not counted
    engine = speechkit.stt("fake")
    usage = ModelUsageCollector()
    engine.on("metrics_collected", usage.collect)
    stream = engine.stream()
    for f in frames(speech([[1, 2]])):
        stream.push_frame(f)
    final = (await next_final(stream)).alternatives[0]
    engine.off("metrics_collected", usage.collect)  # as AgentSession does before closing the stream
    await stream.aclose()  # no end_input
    [entry] = usage.flatten()
    assert entry.audio_duration >= final.end_time > 0
    await engine.aclose()


async def test_a_stream_closed_rather_than_ended_reports_all_the_audio_it_sent() -> None:
    engine = speechkit.stt("fake")
    usage = ModelUsageCollector()
    engine.on("metrics_collected", usage.collect)
    stream = engine.stream()
    for f in frames(speech([[1, 2], [3]])):
        stream.push_frame(f)
    await next_final(stream)
    await stream.aclose()  # no end_input: as AgentSession closes its stream
    [entry] = usage.flatten()
    assert stream.sent_seconds > 0.5
    assert entry.audio_duration == pytest.approx(stream.sent_seconds)
    await engine.aclose()


async def test_a_chain_reports_usage_per_member_that_served() -> None:
    audio = OracleAudio()
    async with TelnyxEmulator(faults=FaultPlan(outage_after=1.0)) as a, TelnyxEmulator() as b:
        members = [
            speechkit.STT(TelnyxProvider(TelnyxOptions(base_url=e.url, api_key=e.api_key, model=model)))
            for e, model in ((a, ""), (b, "backup"))
        ]
        chain = speechkit.FallbackSTT(members)
        usage = ModelUsageCollector()
        chain.on("metrics_collected", usage.collect)
        run = await transcribe(chain, audio.frames(), speed=None, conn_options=FAST)
        await chain.aclose()
    assert run.final_words == audio.words
    served = {(u.provider, u.model): u.audio_duration for u in usage.flatten()}  # type: ignore[attr-defined]
    assert set(served) == {("telnyx", "unknown"), ("telnyx", "backup")}  # not one "fallback" entry
    assert all(seconds > 0 for seconds in served.values())
    assert sum(served.values()) >= audio.duration - 1e-6  # the replay is sent (and billed) twice


async def test_usage_is_reported_while_the_stream_runs_every_second_of_audio() -> None:
    # AgentSession stops listening to the STT before it closes the stream: what is not reported
    # by then is not counted, so the report interval bounds what a session can miss
    engine = speechkit.stt("fake")
    reported: list[float] = []
    two_seconds = asyncio.Event()

    def collect(m: object) -> None:
        reported.append(getattr(m, "audio_duration", 0.0))
        if sum(reported) >= 2.0 - 1e-6:
            two_seconds.set()

    engine.on("metrics_collected", collect)
    stream = engine.stream()
    for f in frames(near_silence(3.0)):  # no words: no final reports it
        stream.push_frame(f)
    await asyncio.wait_for(two_seconds.wait(), 30)  # of 3 s sent, 2 s are reported before the end
    await stream.aclose()
    await engine.aclose()


async def test_an_stt_wrapped_by_livekits_adapters_and_never_closed_leaks_no_http_session() -> None:
    async with TelnyxEmulator() as a, TelnyxEmulator() as b:
        members = [
            speechkit.STT(TelnyxProvider(TelnyxOptions(base_url=e.url, api_key=e.api_key))) for e in (a, b)
        ]
        adapter = stt.FallbackAdapter(members)
        stream = adapter.stream(conn_options=FAST)
        for f in OracleAudio().frames():
            stream.push_frame(f)
        stream.end_input()
        async for _ in stream:
            pass
        await adapter.aclose()  # closes its own streams, not the members
    assert all(m._http is None or m._http.closed for m in members)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del members, adapter, stream
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message)]
