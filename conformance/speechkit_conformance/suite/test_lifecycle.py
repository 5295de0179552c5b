"""Lifecycle: a stream opens, takes audio, flushes, drains and closes; alone, in turn, at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from livekit.agents import stt

import speechkit

from ..emulator import FaultPlan
from ..harness import FAST, Run, Target, leaked_tasks, push, transcribe, wait_for
from ..requirements import requires

E = stt.SpeechEventType
STAGES = ("before_audio", "streaming", "after_first_final", "draining", "ended")
"""Where in its life a stream is closed by the aclose tests."""
PROMPT_ACLOSE = 0.5
"""Seconds ``aclose()`` may take at most."""


async def _next_of(stream: stt.RecognizeStream, kind: stt.SpeechEventType) -> stt.SpeechEvent | None:
    async for ev in stream:
        if ev.type == kind:
            return ev
    return None


async def _connected(target: Target) -> None:
    """Wait until the stream's connection carries audio (emulator), or a moment (elsewhere)."""
    if target.emulator is not None:
        assert await wait_for(lambda: bool(target.sessions and target.sessions[-1].binary), 5.0)
    else:
        await asyncio.sleep(0.3)


async def _reach(stage: str, stream: stt.RecognizeStream, target: Target) -> None:
    """Drive a fresh stream to ``stage``."""
    audio = target.audio.short()
    if stage == "before_audio":
        return
    if stage == "streaming":
        frames = audio.frames()
        await push(stream, frames[: len(frames) // 2], end_input=False)
        await _connected(target)
    elif stage == "after_first_final":
        await push(stream, audio.frames(), end_input=False)
        stream.flush()
        assert await asyncio.wait_for(_next_of(stream, E.FINAL_TRANSCRIPT), 10.0) is not None
    elif stage == "draining":
        await push(stream, audio.frames())
        await _connected(target)
    elif stage == "ended":
        await push(stream, audio.frames())
        async with asyncio.timeout(10.0):
            _ = [ev async for ev in stream]


@pytest.mark.asyncio
class TestLifecycle:
    """Open, push, flush, end of input, ``aclose`` and context-manager use, one or many streams."""

    async def test_a_stream_transcribes_the_audio_pushed(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        run = await transcribe(speechkit_stt, speechkit_target.audio.frames())
        speechkit_target.audio.assert_transcribed(run)

    async def test_end_input_delivers_the_final_of_the_last_words_before_the_iterator_ends(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio.without_tail()  # no pause after the last word
        run = await transcribe(speechkit_stt, audio.frames())
        assert run.final_words[-1:] == audio.words[-1:], f"finals: {run.text!r}"

    @requires("emulator")
    async def test_end_input_waits_for_the_last_final_of_a_slow_server(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        speechkit_target.faults(FaultPlan(delay=0.5))  # every server message half a second late
        audio = speechkit_target.audio.without_tail()
        run = await transcribe(speechkit_stt, audio.frames())
        assert run.final_words == audio.words

    async def test_recognize_transcribes_a_whole_buffer_by_streaming(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio
        event = await speechkit_stt.recognize(audio.frames(), conn_options=FAST)
        audio.assert_transcribed(Run([event], 0.0))

    @requires("flush")
    async def test_flush_finalises_the_pending_words_before_the_input_ends(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        stream = speechkit_stt.stream(conn_options=FAST)
        await push(stream, speechkit_target.audio.short().without_tail().frames(), end_input=False)
        stream.flush()
        final = await asyncio.wait_for(_next_of(stream, E.FINAL_TRANSCRIPT), 10.0)
        await stream.aclose()
        assert final is not None and final.alternatives[0].text

    @pytest.mark.parametrize("stage", STAGES)
    async def test_aclose_returns_within_half_a_second_at_any_stage(
        self, speechkit_target: Target, stage: str
    ) -> None:
        stream = speechkit_target.stt().stream(conn_options=FAST)
        await _reach(stage, stream, speechkit_target)
        t0 = time.monotonic()
        await stream.aclose()
        assert time.monotonic() - t0 < PROMPT_ACLOSE

    @pytest.mark.parametrize("stage", STAGES)
    async def test_aclose_leaves_no_task_running_at_any_stage(
        self, speechkit_target: Target, stage: str
    ) -> None:
        before = set(asyncio.all_tasks())
        engine = speechkit_target.stt()
        stream = engine.stream(conn_options=FAST)
        await _reach(stage, stream, speechkit_target)
        await stream.aclose()
        await engine.aclose()
        leaked = await leaked_tasks(before)
        assert not leaked, f"tasks still running after aclose: {[t.get_name() for t in leaked]}"

    @requires("emulator")
    @pytest.mark.parametrize("stage", STAGES)
    async def test_aclose_leaves_no_server_session_open_at_any_stage(
        self, speechkit_target: Target, stage: str
    ) -> None:
        stream = speechkit_target.stt().stream(conn_options=FAST)
        await _reach(stage, stream, speechkit_target)
        await stream.aclose()
        assert await wait_for(lambda: speechkit_target.emu.active == 0, 1.0), "the server still has a session"

    @requires("emulator")
    async def test_aclose_returns_within_half_a_second_when_the_server_is_half_open(
        self, speechkit_target: Target
    ) -> None:
        speechkit_target.faults(FaultPlan(stall_after=0.2))
        stream = speechkit_target.stt().stream(conn_options=FAST)
        await push(stream, speechkit_target.audio.frames(), end_input=False)
        sessions = speechkit_target.sessions
        assert await wait_for(lambda: bool(sessions) and sessions[0].ended_by == "stall", 5.0)
        t0 = time.monotonic()
        await stream.aclose()
        assert time.monotonic() - t0 < PROMPT_ACLOSE

    async def test_a_stream_works_as_an_async_context_manager(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio.short()
        async with speechkit_stt.stream(conn_options=FAST) as stream:
            pusher = asyncio.create_task(push(stream, audio.frames()))
            events = [ev async for ev in stream]
            await pusher
        finals = " ".join(e.alternatives[0].text for e in events if e.type == E.FINAL_TRANSCRIPT)
        assert finals, "no final inside the context manager"

    async def test_leaving_the_context_manager_closes_the_stream(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        frames = speechkit_target.audio.short().frames()
        async with speechkit_stt.stream(conn_options=FAST) as stream:
            await push(stream, frames[:10], end_input=False)  # input not ended: only the exit closes it
        with pytest.raises(RuntimeError):
            stream.push_frame(frames[10])

    async def test_many_sequential_streams_on_one_stt_each_transcribe(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio.short()
        for _ in range(5 if audio.exact else 2):
            audio.assert_transcribed(await transcribe(speechkit_stt, audio.frames()))

    async def test_concurrent_streams_on_one_stt_each_get_their_own_words(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audios = [speechkit_target.audio.distinct(i) for i in range(3 if speechkit_target.audio.exact else 2)]
        runs: list[Any] = await asyncio.gather(*(transcribe(speechkit_stt, a.frames()) for a in audios))
        for audio, run in zip(audios, runs, strict=True):
            audio.assert_transcribed(run)
