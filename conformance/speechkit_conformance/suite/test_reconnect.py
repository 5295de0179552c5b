"""Reconnect (emulator): when the server drops or closes the connection mid-utterance, the stream
reconnects and replays what no final covered, so oracle words in == words out."""

from __future__ import annotations

import attrs
import pytest
from livekit.agents import APIConnectOptions, APIError

from ..emulator import FaultPlan
from ..harness import OracleAudio, Target, transcribe
from ..oracle import GAP_S, LEAD_S, PAUSE_S, TONE_S
from ..requirements import requires

MID_UTTERANCE = LEAD_S + (4 * TONE_S + GAP_S) + PAUSE_S + (2 * TONE_S + GAP_S) + TONE_S
"""Seconds of the default oracle audio inside "delta", the second word of the second utterance."""
SPEED = 4.0
"""Push at 4x real time: the fault strikes while audio is still flowing."""
WORD_TIME_TOLERANCE = 0.1
"""Seconds a word's reported start or end may differ from where the oracle audio has it."""


def oracle_word_spans(audio: object) -> list[tuple[float, float]]:
    """Where each word of oracle audio is spoken: ``(start, end)`` seconds, as synthesised."""
    assert isinstance(audio, OracleAudio), "word spans are known for oracle audio only"
    spans, t = [], LEAD_S
    for utterance in audio.utterances:
        for i, _ in enumerate(utterance):
            t += GAP_S if i else 0.0
            spans.append((t, t + 2 * TONE_S))
            t += 2 * TONE_S
        t += PAUSE_S
    return spans


@pytest.mark.asyncio
@requires("emulator", "exact_words")
class TestReconnect:
    """No word lost or repeated across a dropped or closed connection; one stream clock."""

    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_a_dropped_connection_mid_utterance_loses_and_repeats_no_word(
        self, speechkit_target: Target, speed: float | None
    ) -> None:
        speechkit_target.faults(FaultPlan(drop_after=MID_UTTERANCE))
        run = await transcribe(speechkit_target.stt(), speechkit_target.audio.frames(), speed=speed)
        assert speechkit_target.sessions[0].ended_by == "drop", "the fault did not strike"
        assert run.final_words == speechkit_target.audio.words

    async def test_a_dropped_connection_is_replaced_by_exactly_one_new_session(
        self, speechkit_target: Target
    ) -> None:
        speechkit_target.faults(FaultPlan(drop_after=MID_UTTERANCE))
        await transcribe(speechkit_target.stt(), speechkit_target.audio.frames(), speed=SPEED)
        assert [s.status for s in speechkit_target.sessions] == [101, 101]

    async def test_final_times_stay_monotonic_across_a_reconnect(self, speechkit_target: Target) -> None:
        speechkit_target.faults(FaultPlan(drop_after=MID_UTTERANCE))
        run = await transcribe(speechkit_target.stt(), speechkit_target.audio.frames(), speed=SPEED)
        starts = [f.start_time for f in run.finals]
        words = [start for start, _, _ in run.word_spans]
        assert len(speechkit_target.sessions) == 2, "no reconnect happened"
        assert starts == sorted(starts) and words == sorted(words), (starts, words)

    async def test_a_close_1011_mid_stream_reconnects_without_losing_words(
        self, speechkit_target: Target
    ) -> None:
        speechkit_target.faults(FaultPlan(close_code=1011, close_after=MID_UTTERANCE))
        run = await transcribe(speechkit_target.stt(), speechkit_target.audio.frames(), speed=SPEED)
        assert speechkit_target.sessions[0].close_code == 1011, "the fault did not strike"
        assert run.final_words == speechkit_target.audio.words


QUICK_RESPONSE = 1.0
"""Seconds of server silence after unanswered speech that mean half-open, in these tests (the
providers' defaults are longer; the mechanism is the same)."""


@pytest.mark.asyncio
@requires("emulator", "exact_words")
class TestHalfOpen:
    """A server that goes silent while audio awaits transcription is replaced, whatever the push mode
    and even after the last audio; words are neither lost nor repeated; a stream that cannot get
    its audio transcribed raises instead of ending quietly."""

    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_a_server_that_stalls_mid_utterance_is_replaced_without_losing_a_word(
        self, speechkit_target: Target, speed: float | None
    ) -> None:
        speechkit_target.faults(FaultPlan(stall_after=MID_UTTERANCE))
        engine = speechkit_target.stt(response_timeout=QUICK_RESPONSE)
        run = await transcribe(engine, speechkit_target.audio.frames(), speed=speed)
        assert speechkit_target.sessions[0].ended_by == "stall", "the fault did not strike"
        assert run.final_words == speechkit_target.audio.words

    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_a_server_that_stalls_right_after_the_last_audio_is_replaced(
        self, speechkit_target: Target, speed: float | None
    ) -> None:
        audio = speechkit_target.audio.without_tail()  # only the drain can finalise the last words
        speechkit_target.faults(FaultPlan(stall_after=audio.duration - 0.05))
        engine = speechkit_target.stt(response_timeout=QUICK_RESPONSE)
        run = await transcribe(engine, audio.frames(), speed=speed)
        assert speechkit_target.sessions[0].ended_by == "stall", "the fault did not strike"
        assert run.final_words == audio.words

    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_a_stream_that_cannot_get_its_audio_transcribed_raises_saying_how_much(
        self, speechkit_target: Target, speed: float | None
    ) -> None:
        speechkit_target.faults(FaultPlan(stall_after=0.0, fault_sessions=None))  # every session
        engine = speechkit_target.stt(response_timeout=QUICK_RESPONSE / 2)
        options = APIConnectOptions(max_retry=1, retry_interval=0.05, timeout=5.0)
        with pytest.raises(APIError, match=r"\d+\.\d s of audio were never transcribed"):
            await transcribe(engine, speechkit_target.audio.frames(), speed=speed, conn_options=options)
        assert len(speechkit_target.sessions) == 2, "one retry, then the error"


QUICK_TRANSCRIPT = 1.0
"""Seconds without words, while whole utterances go out, that mean a mute connection, in these
tests (the providers' default is 20 s; the mechanism is the same)."""


@pytest.mark.asyncio
@requires("emulator", "exact_words")
class TestSilentFailure:
    """A server that keeps answering (pings, acknowledgements, results without words) but stops
    transcribing while utterances of speech go out is as dead as a half-open one: it is
    replaced, and no word is lost or repeated."""

    @pytest.mark.parametrize("speed", [2.0, None], ids=["paced", "burst"])
    async def test_a_server_that_answers_but_stops_transcribing_is_replaced_without_losing_a_word(
        self, speechkit_target: Target, speed: float | None
    ) -> None:
        audio = speechkit_target.audio
        assert isinstance(audio, OracleAudio), "the oracle gives exact words"
        # ten utterances: three whole ones go out unanswered while audio still flows
        words = [w for u in audio.utterances for w in u]
        audio = attrs.evolve(
            audio, utterances=tuple((words[i % len(words)], words[(i + 1) % len(words)]) for i in range(10))
        )
        speechkit_target.faults(FaultPlan(mute_after=1.0))
        engine = speechkit_target.stt(transcript_timeout=QUICK_TRANSCRIPT)
        run = await transcribe(engine, audio.frames(), speed=speed)
        assert speechkit_target.sessions[0].muted, "the fault did not strike"
        assert len(speechkit_target.sessions) == 2, "the mute connection was not replaced"
        assert run.final_words == audio.words


@pytest.mark.asyncio
@requires("emulator", "exact_words", "word_timestamps")
class TestStreamClock:
    """Timed finals stay on the stream clock across a reconnect: the replayed audio's results are
    shifted by where the replay began, so every word keeps the time it was spoken."""

    @pytest.mark.parametrize("speed", [SPEED, None], ids=["paced", "burst"])
    async def test_word_times_after_a_reconnect_are_where_the_words_were_spoken(
        self, speechkit_target: Target, speed: float | None
    ) -> None:
        speechkit_target.faults(FaultPlan(drop_after=MID_UTTERANCE))
        run = await transcribe(speechkit_target.stt(), speechkit_target.audio.frames(), speed=speed)
        assert len(speechkit_target.sessions) == 2, "no reconnect happened"
        spoken = oracle_word_spans(speechkit_target.audio)
        got = [(start, end) for start, end, _ in run.word_spans]
        assert len(got) == len(spoken), (got, spoken)
        for (start, end), (want_start, want_end) in zip(got, spoken, strict=True):
            # the oracle times words to its 20 ms analysis frames, plus the chunk size
            assert abs(start - want_start) <= WORD_TIME_TOLERANCE, (got, spoken)
            assert abs(end - want_end) <= WORD_TIME_TOLERANCE, (got, spoken)
