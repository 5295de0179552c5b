"""Bad server messages (emulator): invalid JSON, a 50 MB message, an unknown type, a final before
any audio, negative or decreasing times, a flood of interims. Each ends in a clear error and a
reconnect that replays the audio, or a logged skip; never a hang (every stream is bounded), a
crash, a lost or doubled word (the oracle's words come out exactly once), a negative time or an
event out of order."""

from __future__ import annotations

import asyncio
import logging

import pytest
from livekit.agents import stt

import speechkit
from speechkit.errors import APIError, ServerError
from speechkit.stream import interims as interim_pacing

from ..emulator import UNKNOWN_TYPE, FaultPlan
from ..harness import FAST, Run, Target, push, transcribe, wait_for
from ..requirements import requires

E = stt.SpeechEventType

SPEED = 4.0
"""Paced pushes go at 4x real time: the fault strikes while audio is still flowing."""
LIMIT = 15.0
"""Seconds a stream may take here; longer is a hang (the streams take 0.1-1 s)."""
STRIKE = 0.3
"""Seconds of audio after which a mid-stream fault strikes: inside the first utterance."""


def _watch(target: Target) -> tuple[speechkit.STT, list[stt.STTError]]:
    """An STT for the target and the error events it emits (retried errors included)."""
    engine = target.stt()
    errors: list[stt.STTError] = []
    engine.on("error", errors.append)
    return engine, errors


def _records(caplog: pytest.LogCaptureFixture, level: int, provider: str) -> list[logging.LogRecord]:
    """Records at ``level`` that name the provider (in the message or the ``provider`` field)."""
    return [
        r
        for r in caplog.records
        if r.levelno == level and (provider in r.getMessage() or getattr(r, "provider", None) == provider)
    ]


def _times(run: Run) -> list[float]:
    """Every time of every transcript event: its start, its end, its words' starts and ends."""
    out: list[float] = []
    for ev in run.of(E.INTERIM_TRANSCRIPT, E.FINAL_TRANSCRIPT):
        for alt in ev.alternatives:
            out += [alt.start_time, alt.end_time]
            out += [t for w in alt.words or [] for t in (w.start_time, w.end_time)]
    return out


@pytest.mark.asyncio
@requires("emulator", "exact_words")
class TestServerMessages:
    """What a stream does with each bad message a server may send."""

    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_invalid_json_is_a_retried_server_error_and_the_replay_loses_no_word(
        self, speechkit_target: Target, speed: float | None, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING)
        plan = FaultPlan(malformed_after=STRIKE)
        speechkit_target.faults(plan)
        engine, errors = _watch(speechkit_target)
        run = await transcribe(engine, speechkit_target.audio.frames(), speed=speed, limit=LIMIT)
        name = speechkit_target.provider_class.name
        assert plan.malformed_frame in speechkit_target.sessions[0].sent, "the fault did not strike"
        assert run.final_words == speechkit_target.audio.words
        raised = [e.error for e in errors if isinstance(e.error, APIError)]
        if raised:  # the core's decode_json: a retried ServerError, a reconnect, the audio replayed
            err = raised[0]
            assert isinstance(err, ServerError) and err.retryable, repr(err)
            assert name in str(err) and "not JSON" in str(err), str(err)
            assert len(speechkit_target.sessions) == 2, "not one reconnect"
        else:  # a vendor parser may skip it instead, saying so
            assert _records(caplog, logging.WARNING, name), "neither raised nor logged"

    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_a_50_mb_message_is_a_server_error_saying_too_big_and_the_replay_loses_no_word(
        self, speechkit_target: Target, speed: float | None
    ) -> None:
        plan = FaultPlan(huge_after=STRIKE)
        speechkit_target.faults(plan)
        engine, errors = _watch(speechkit_target)
        run = await transcribe(engine, speechkit_target.audio.frames(), speed=speed, limit=LIMIT)
        assert any(len(m) > plan.huge_size for m in speechkit_target.sessions[0].sent), "not sent"
        assert run.final_words == speechkit_target.audio.words
        assert len(speechkit_target.sessions) == 2, "not one reconnect"
        err = errors[0].error
        assert isinstance(err, ServerError) and err.retryable, repr(err)
        assert speechkit_target.provider_class.name in str(err) and "too big" in str(err), str(err)

    async def test_a_message_of_an_unknown_type_is_skipped_and_logged_at_debug(
        self, speechkit_target: Target, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        speechkit_target.faults(FaultPlan(unknown_after=STRIKE))
        engine, errors = _watch(speechkit_target)
        run = await transcribe(engine, speechkit_target.audio.frames(), speed=SPEED, limit=LIMIT)
        assert run.final_words == speechkit_target.audio.words
        assert not errors and len(speechkit_target.sessions) == 1, "the stream did not just go on"
        logged = _records(caplog, logging.DEBUG, speechkit_target.provider_class.name)
        assert any(UNKNOWN_TYPE in r.getMessage() for r in logged), "the skip was not logged at debug"

    async def test_a_final_before_any_audio_is_dropped_with_a_warning(
        self, speechkit_target: Target, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING)
        speechkit_target.faults(FaultPlan(early_final=True))
        engine, errors = _watch(speechkit_target)
        name, audio = speechkit_target.provider_class.name, speechkit_target.audio
        stream = engine.stream(conn_options=FAST)
        events: list[stt.SpeechEvent] = []

        async def collect() -> None:
            async for ev in stream:
                events.append(ev)

        collector = asyncio.create_task(collect())
        try:
            async with asyncio.timeout(LIMIT):
                # no audio is pushed until the made-up final has reached the stream: none was sent
                reached = await wait_for(
                    lambda: bool(_records(caplog, logging.WARNING, name) or Run(events, 0.0).finals), 5.0
                )
                await push(stream, audio.frames(), speed=SPEED)
                await collector
        finally:
            collector.cancel()
            await stream.aclose()
        assert reached, "the made-up final never reached the stream"
        assert Run(events, 0.0).final_words == audio.words, "words nobody said were emitted"
        assert not errors and len(speechkit_target.sessions) == 1
        assert _records(caplog, logging.WARNING, name), "the drop was not logged"

    @requires("word_timestamps")
    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_negative_final_times_are_clamped_with_a_warning_and_no_time_is_negative(
        self, speechkit_target: Target, speed: float | None, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING)
        speechkit_target.faults(FaultPlan(bad_times="negative"))
        run = await transcribe(
            speechkit_target.stt(), speechkit_target.audio.frames(), speed=speed, limit=LIMIT
        )
        assert run.final_words == speechkit_target.audio.words
        times, duration = _times(run), speechkit_target.audio.duration
        assert times and all(0.0 <= t <= duration + 0.01 for t in times), times
        assert _records(caplog, logging.WARNING, speechkit_target.provider_class.name), "not logged"

    @requires("word_timestamps")
    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_decreasing_final_times_are_clamped_with_a_warning_so_events_stay_in_order(
        self, speechkit_target: Target, speed: float | None, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING)
        speechkit_target.faults(FaultPlan(bad_times="decreasing"))
        run = await transcribe(
            speechkit_target.stt(), speechkit_target.audio.frames(), speed=speed, limit=LIMIT
        )
        assert run.final_words == speechkit_target.audio.words
        starts, ends = [f.start_time for f in run.finals], [f.end_time for f in run.finals]
        words = [start for start, _, _ in run.word_spans]
        assert starts == sorted(starts) and ends == sorted(ends) and words == sorted(words), run.finals
        assert all(f.start_time <= f.end_time for f in run.finals), run.finals
        assert _records(caplog, logging.WARNING, speechkit_target.provider_class.name), "not logged"

    async def test_a_flood_of_interims_is_one_event_each_at_most_and_loses_no_word(
        self, speechkit_target: Target
    ) -> None:
        plan = FaultPlan(interim_flood_after=0.2)
        speechkit_target.faults(plan)
        engine, errors = _watch(speechkit_target)
        run = await transcribe(engine, speechkit_target.audio.frames(), speed=SPEED, limit=LIMIT)
        sent = speechkit_target.sessions[0].sent
        assert len(sent) >= plan.interim_flood, "the flood did not strike"
        assert run.final_words == speechkit_target.audio.words  # the flood's words never became final
        # the interims the stream holds for its consumer grow with time, not with the flood: the
        # core's pacing (a burst, then a rate), the newest kept (never a final of the flood); each
        # other event may first release the one waiting, ahead of the rate
        interims = len(run.of(E.INTERIM_TRANSCRIPT))
        others = len(run.events) - interims
        assert 0 < interims <= interim_pacing.BURST + interim_pacing.RATE * run.elapsed + others, interims
        assert not errors and len(speechkit_target.sessions) == 1
