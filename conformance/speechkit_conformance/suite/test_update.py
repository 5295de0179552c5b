"""Options updated on a live stream (emulator): the core reconnects with them, in order with the
audio, and replays what no final covered, so oracle words in == words out."""

from __future__ import annotations

import time

import pytest

from ..harness import FAST, Run, Target, carries_language, push
from ..requirements import requires
from .test_grammar import OTHER_LANGUAGE


@pytest.mark.asyncio
@requires("emulator", "exact_words", "update_options")
class TestUpdateOptions:
    """``stream.update_options(...)`` mid-stream: a new session with the new options, nothing lost."""

    async def _run_with_update(self, target: Target) -> Run:
        stream = target.stt().stream(conn_options=FAST)
        frames = target.audio.frames()
        half = len(frames) // 2
        t0 = time.monotonic()
        await push(stream, frames[:half], speed=4.0, end_input=False)
        stream.update_options(language=OTHER_LANGUAGE)
        await push(stream, frames[half:], speed=4.0)
        events = [ev async for ev in stream]
        await stream.aclose()
        return Run(events, time.monotonic() - t0)

    async def test_an_update_mid_stream_loses_and_repeats_no_word(self, speechkit_target: Target) -> None:
        run = await self._run_with_update(speechkit_target)
        assert run.final_words == speechkit_target.audio.words

    async def test_an_update_opens_one_new_session_carrying_the_new_options(
        self, speechkit_target: Target
    ) -> None:
        await self._run_with_update(speechkit_target)
        sessions = speechkit_target.sessions
        assert [s.status for s in sessions] == [101, 101], "expected exactly one reconnect"
        new = sessions[1]
        assert carries_language(new, OTHER_LANGUAGE), (
            f"{OTHER_LANGUAGE} in neither {new.query} nor {new.texts}"
        )
