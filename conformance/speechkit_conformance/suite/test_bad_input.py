"""Bad input: each misuse fails clearly, and nothing pushed before it is lost; odd but valid
input (all the audio in one frame, a minute in one frame, 8 channels at 384 kHz) is transcribed
whole. Malformed frames (a rate outside 1-768 kHz, no channel, data that is not s16) are the
core's to refuse, whatever the provider: ``tests/core/test_bad_frames.py``."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt

import speechkit
from speechkit.stream.replay import MAX_REPLAY_SECONDS

from ..emulator import FaultPlan
from ..harness import FAST, OracleAudio, Run, Target, push, transcribe
from ..oracle import VOCABULARY
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


def _one_frame(pcm: np.ndarray, rate: int) -> rtc.AudioFrame:
    return rtc.AudioFrame(pcm.astype("<i2").tobytes(), rate, 1, len(pcm))


def _long_oracle_audio(first: float, total: float) -> OracleAudio:
    """Oracle audio of about ``total`` seconds whose first utterance alone lasts ``first``: no
    final can confirm any of it before then."""

    def length(*utterances: tuple[str, ...]) -> float:
        return OracleAudio(utterances=utterances).duration

    per_word = length(tuple(VOCABULARY[:2])) - length(tuple(VOCABULARY[:1]))

    def words(seconds: float, offset: int) -> tuple[str, ...]:
        return tuple(VOCABULARY[(offset + k) % len(VOCABULARY)] for k in range(int(seconds / per_word)))

    utterances = [words(first, 0)]
    while length(*utterances) < total:
        utterances.append(words(3.0, 7 * len(utterances)))
    return OracleAudio(utterances=tuple(utterances))


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

    async def test_all_the_audio_in_one_frame_is_transcribed(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio
        run = await transcribe(speechkit_stt, [_one_frame(audio.pcm(), audio.sample_rate)])
        audio.assert_transcribed(run)

    async def test_eight_channels_at_384_khz_are_mixed_down_resampled_and_transcribed(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio.short()
        run = await transcribe(speechkit_stt, audio.frames(384000, channels=8), limit=60.0)
        audio.assert_transcribed(run)

    @requires("emulator")
    async def test_a_minute_in_one_frame_reaches_the_server_whole(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        room = min(speechkit_stt.hooks.max_replay or MAX_REPLAY_SECONDS, MAX_REPLAY_SECONDS)
        audio = _long_oracle_audio(first=3.0, total=room + 3.0)
        run = await transcribe(speechkit_stt, [_one_frame(audio.pcm(), audio.sample_rate)], limit=90.0)
        audio.assert_transcribed(run)
        received = speechkit_target.sessions[0].audio_seconds
        assert abs(received - audio.duration) <= speechkit_stt.hooks.chunk_duration, received

    @requires("emulator")
    async def test_a_minute_in_one_frame_survives_a_dropped_connection_without_losing_a_word(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        """More than the replay room in one frame, the first utterance still open when the
        connection drops: replay must hold all of it (a frame that joined replay at once was
        trimmed to the room's newest seconds, and the utterance's start was lost)."""
        room = min(speechkit_stt.hooks.max_replay or MAX_REPLAY_SECONDS, MAX_REPLAY_SECONDS)
        audio = _long_oracle_audio(first=10.0, total=room + 3.0)
        speechkit_target.faults(FaultPlan(drop_after=2.0))
        run = await transcribe(speechkit_stt, [_one_frame(audio.pcm(), audio.sample_rate)], limit=90.0)
        assert speechkit_target.sessions[0].ended_by == "drop", "the fault did not strike"
        audio.assert_transcribed(run)

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
