"""Bad frames into ``push_frame``: each is refused with a clear error naming what is wrong, or
taken whole; nothing pushed before is lost, nothing is trimmed, nothing waits unbounded
(issue 19: bad input). The rate change within a stream is in the conformance suite
(``suite/test_bad_input.py``)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import ClassVar

import numpy as np
import pytest
from fakes import RATE, FakeOptions, FakeProvider, NullProvider, frames, speech
from livekit import rtc
from livekit.agents import APIConnectOptions, stt

import speechkit
from speechkit.audio import MAX_QUEUED_SECONDS, push_frames
from speechkit.stream import replay

E = stt.SpeechEventType
FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
UTTERANCES = [[1, 2, 3], [4, 5]]
WORDS = ["w1", "w2", "w3", "w4", "w5"]


async def transcribe(engine: speechkit.STT, pushed: list[rtc.AudioFrame]) -> list[str]:
    stream = engine.stream(conn_options=FAST)
    async with asyncio.timeout(60):
        for frame in pushed:
            stream.push_frame(frame)
        stream.end_input()
        events = [ev async for ev in stream]
    await stream.aclose()
    return [w for ev in events if ev.type == E.FINAL_TRANSCRIPT for w in ev.alternatives[0].text.split()]


def one_frame(samples: np.ndarray, rate: int = RATE) -> rtc.AudioFrame:
    return rtc.AudioFrame(samples.astype(np.int16).tobytes(), rate, 1, len(samples))


def long_utterance(seconds: float) -> tuple[np.ndarray, list[str]]:
    """One utterance of level words with no pause in it: no final until it ends."""
    count = int((seconds - 0.5) / 0.18)
    levels = [k % 20 + 1 for k in range(count)]
    return speech([levels]), [f"w{k}" for k in levels]


@pytest.fixture
def engine() -> speechkit.STT:
    return speechkit.STT(FakeProvider(FakeOptions()))


# -- empty and long frames ----------------------------------------------------------------


async def test_empty_frames_are_ignored_whatever_their_format(engine: speechkit.STT) -> None:
    empty = [rtc.AudioFrame(b"", 16000, 1, 0), rtc.AudioFrame(b"", 8000, 2, 0), rtc.AudioFrame(b"", 0, 0, 0)]
    pushed = [x for f in frames(speech(UTTERANCES)) for x in (*empty, f)]
    assert await transcribe(engine, pushed) == WORDS


async def test_a_minute_in_one_frame_is_transcribed_whole_and_nothing_is_trimmed_from_replay(
    engine: speechkit.STT, caplog: pytest.LogCaptureFixture
) -> None:
    utterances = [[k % 20 + 1 for k in range(i, i + 5)] for i in range(0, 340, 5)]  # 62 s
    audio = speech(utterances)
    assert len(audio) / RATE > replay.MAX_REPLAY_SECONDS
    with caplog.at_level(logging.WARNING, logger="speechkit"):
        words = await transcribe(engine, [one_frame(audio)])
    assert words == [f"w{k}" for u in utterances for k in u]
    assert "only the newest is kept" not in caplog.text  # the whole frame joined replay at once


class _SmallReplay(FakeProvider):
    """Keeps 4 s for replay, so a long frame need not be long to overflow it."""

    name: ClassVar[str] = "smallreplay"
    max_replay = 4.0


async def test_a_long_frame_survives_a_reconnect_midway_without_losing_its_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay, "REPLAY_WAIT", 0.2)
    audio, expected = long_utterance(8.0)  # one utterance: nothing is confirmed before its end
    engine = speechkit.STT(_SmallReplay(FakeOptions(drop_after=2.0)))
    assert await transcribe(engine, [one_frame(audio)]) == expected


async def test_a_long_frame_at_48_khz_is_resampled_whole(engine: speechkit.STT) -> None:
    audio = speech(UTTERANCES * 8, rate=48000)
    assert await transcribe(engine, [one_frame(audio, 48000)]) == WORDS * 8


# -- rates and channels -------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1000, 384000, 768000])
async def test_rates_from_1_khz_to_768_khz_are_taken(engine: speechkit.STT, rate: int) -> None:
    pushed = frames(speech(UTTERANCES, rate=rate), rate=rate, size=rate // 50)
    assert await transcribe(engine, pushed) == WORDS


@pytest.mark.parametrize("rate", [0, -16000, 1, 999, 768001])
async def test_a_rate_out_of_range_is_refused_naming_the_range(engine: speechkit.STT, rate: int) -> None:
    stream = engine.stream(conn_options=FAST)
    with pytest.raises(ValueError, match=f"sample rate must be 1000-768000 Hz, got {rate}"):
        stream.push_frame(rtc.AudioFrame(bytes(640), rate, 1, 320))
    await stream.aclose()


async def test_the_channel_count_may_change_within_a_stream(engine: speechkit.STT) -> None:
    audio = speech(UTTERANCES)
    third = len(audio) // 3
    pushed = [
        *frames(audio[:third]),
        *frames(audio[third : 2 * third], channels=2),
        *frames(audio[2 * third :], channels=8),
    ]
    assert await transcribe(engine, pushed) == WORDS


async def test_a_frame_with_no_channel_is_refused(engine: speechkit.STT) -> None:
    stream = engine.stream(conn_options=FAST)
    with pytest.raises(ValueError, match="at least one channel, got num_channels=0"):
        stream.push_frame(rtc.AudioFrame(bytes(640), 16000, 0, 320))
    await stream.aclose()


# -- frames that are not PCM s16 ------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2])
async def test_a_float32_buffer_in_a_frame_is_refused_and_nothing_before_it_is_lost(
    engine: speechkit.STT, channels: int
) -> None:
    """rtc.AudioFrame takes data longer than its samples need: a float32 buffer has twice the
    bytes, which used to be sent as s16 noise (mono) or fail in numpy's reshape (stereo)."""
    stream = engine.stream(conn_options=FAST)
    good = frames(speech(UTTERANCES))
    for frame in good:
        stream.push_frame(frame)
    as_float = np.zeros(320 * channels, np.float32).tobytes()
    with pytest.raises(ValueError, match=f"must hold {640 * channels} bytes of PCM s16le, this one holds"):
        stream.push_frame(rtc.AudioFrame(as_float, 16000, channels, 320))
    stream.end_input()
    async with asyncio.timeout(30):
        events = [ev async for ev in stream]
    await stream.aclose()
    words = [w for e in events if e.type == E.FINAL_TRANSCRIPT for w in e.alternatives[0].text.split()]
    assert words == WORDS
    assert stream.sent_seconds == pytest.approx(len(speech(UTTERANCES)) / RATE, abs=0.05)


def test_an_odd_byte_count_is_refused_by_livekit_itself() -> None:
    with pytest.raises(ValueError, match="multiple of sizeof"):
        rtc.AudioFrame(bytes(641), 16000, 1, 320)
    with pytest.raises(ValueError, match=">= num_channels"):
        rtc.AudioFrame(bytes(100), 16000, 1, 320)


@pytest.mark.parametrize("thing", [b"\x00\x00" * 320, np.zeros(320, np.int16), memoryview(bytes(640))])
async def test_a_non_frame_is_refused_with_a_type_error(engine: speechkit.STT, thing: object) -> None:
    stream = engine.stream(conn_options=FAST)
    with pytest.raises(TypeError, match=r"push_frame takes an rtc\.AudioFrame"):
        stream.push_frame(thing)  # type: ignore[arg-type]
    await stream.aclose()


# -- backpressure ---------------------------------------------------------------------------


class _SlowNull(NullProvider):
    """Takes 100 ms of audio per 20 ms of wall time: five times real time, not faster."""

    name: ClassVar[str] = "slownull"

    async def connect(self, session: speechkit.Session):  # type: ignore[no-untyped-def]
        conn = await super().connect(session)
        send = conn.send

        async def slow(message: object) -> None:
            if isinstance(message, bytes):
                await asyncio.sleep(0.02)
            await send(message)

        conn.send = slow  # type: ignore[method-assign]
        return conn


async def test_push_frames_waits_while_the_stream_holds_more_than_its_queue_unsent() -> None:
    provider = _SlowNull(FakeOptions())
    engine = speechkit.STT(provider)
    stream = engine.stream(conn_options=FAST)
    most = 0.0

    def progress(_: float) -> None:
        nonlocal most
        most = max(most, stream.queued_seconds)

    t0 = time.monotonic()
    await push_frames(stream, frames(np.zeros(RATE * 12, np.int16)), progress=progress, end_input=False)
    assert time.monotonic() - t0 > 0.5, "it pushed 12 s at once: nothing held it back"
    assert most <= MAX_QUEUED_SECONDS + 0.1
    await stream.aclose()
    await engine.aclose()
