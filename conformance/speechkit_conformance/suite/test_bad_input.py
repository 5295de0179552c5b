"""Bad input: each misuse fails clearly, and nothing pushed before it is lost."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt

import speechkit

from ..harness import FAST, Run, Target, push, transcribe
from ..requirements import requires

E = stt.SpeechEventType


def _other_rate_frame(rate: int) -> rtc.AudioFrame:
    other = 8000 if rate != 8000 else 16000
    return rtc.AudioFrame(bytes(other // 50 * 2), other, 1, other // 50)


def _right_channel_only(pcm: np.ndarray, rate: int) -> list[rtc.AudioFrame]:
    """Stereo frames with silence on the left: a mix-down must keep the right channel."""
    stereo = np.stack([np.zeros_like(pcm), pcm], axis=1)
    size = rate // 50
    return [
        rtc.AudioFrame(stereo[i : i + size].tobytes(), rate, 2, len(stereo[i : i + size]))
        for i in range(0, len(stereo), size)
    ]


async def _collect(stream: stt.RecognizeStream) -> Run:
    async with asyncio.timeout(30.0):
        return Run([ev async for ev in stream], 0.0)


@pytest.mark.asyncio
class TestBadInput:
    """Rate changes, stereo, empty input, pushing after end_input or aclose."""

    async def test_a_sample_rate_change_within_a_stream_raises_value_error(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio
        stream = speechkit_stt.stream(conn_options=FAST)
        stream.push_frame(audio.frames()[0])
        with pytest.raises(ValueError, match="sample rate"):
            stream.push_frame(_other_rate_frame(audio.sample_rate))
        await stream.aclose()

    async def test_audio_pushed_before_a_rate_change_is_still_transcribed(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio
        stream = speechkit_stt.stream(conn_options=FAST)
        collector = asyncio.create_task(_collect(stream))
        await push(stream, audio.frames(), end_input=False)
        with contextlib.suppress(ValueError):
            stream.push_frame(_other_rate_frame(audio.sample_rate))
        stream.end_input()
        run = await collector
        await stream.aclose()
        audio.assert_transcribed(run)

    async def test_stereo_input_is_mixed_down_and_transcribed(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio
        run = await transcribe(speechkit_stt, _right_channel_only(audio.pcm(), audio.sample_rate))
        audio.assert_transcribed(run)

    @requires("emulator")
    async def test_stereo_input_reaches_the_server_as_mono_of_the_same_duration(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio
        await transcribe(speechkit_stt, _right_channel_only(audio.pcm(), audio.sample_rate))
        received = speechkit_target.sessions[0].audio_seconds
        assert abs(received - audio.duration) <= speechkit_stt.hooks.chunk_duration, received

    async def test_end_input_with_nothing_pushed_ends_cleanly_without_a_transcript(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        run = await transcribe(speechkit_stt, [], limit=speechkit_stt.hooks.drain_timeout + 5.0)
        assert not run.of(E.INTERIM_TRANSCRIPT, E.FINAL_TRANSCRIPT, E.START_OF_SPEECH)

    async def test_pushing_after_end_input_raises_runtime_error(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        frames = speechkit_target.audio.short().frames()
        stream = speechkit_stt.stream(conn_options=FAST)
        await push(stream, frames[:5])
        with pytest.raises(RuntimeError):
            stream.push_frame(frames[5])
        await stream.aclose()

    async def test_pushing_after_end_input_loses_nothing_pushed_before(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio.short()
        stream = speechkit_stt.stream(conn_options=FAST)
        collector = asyncio.create_task(_collect(stream))
        await push(stream, audio.frames())
        with contextlib.suppress(RuntimeError):
            stream.push_frame(audio.frames()[0])
        run = await collector
        await stream.aclose()
        audio.assert_transcribed(run)

    async def test_pushing_after_aclose_raises_runtime_error(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        frames = speechkit_target.audio.short().frames()
        stream = speechkit_stt.stream(conn_options=FAST)
        stream.push_frame(frames[0])
        await stream.aclose()
        with pytest.raises(RuntimeError):
            stream.push_frame(frames[1])
