"""Reconnect (emulator): when the server drops or closes the connection mid-utterance, the stream
reconnects and replays what no final covered, so oracle words in == words out."""

from __future__ import annotations

import pytest

from ..emulator import FaultPlan
from ..harness import Target, transcribe
from ..oracle import GAP_S, LEAD_S, PAUSE_S, TONE_S
from ..requirements import requires

MID_UTTERANCE = LEAD_S + (4 * TONE_S + GAP_S) + PAUSE_S + (2 * TONE_S + GAP_S) + TONE_S
"""Seconds of the default oracle audio inside "delta", the second word of the second utterance."""
SPEED = 4.0
"""Push at 4x real time: the fault strikes while audio is still flowing."""


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
