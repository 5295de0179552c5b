"""Audio helpers: pushing frames into a stream, and speech runs by the core's pause rule.

Decoding files, standard input and raw PCM into frames is :mod:`speechkit.decode` (its names
are importable from here too); wire encodings are :mod:`speechkit.codecs`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

from livekit import rtc
from livekit.agents import stt

from .blocking import in_thread
from .decode import (
    FRAME_SECONDS,
    MAX_CHANNELS,
    STDIN,
    AudioFileError,
    AudioInput,
    DecodedAudio,
    check_format,
    decode_file,
    decode_raw,
    open_file,
    open_stream,
    read_file,
    stream_frames,
)
from .stream.input import downmix
from .stream.pauses import PauseDetector

__all__ = [  # decoding's names, importable from here as before it had a module of its own
    "FRAME_SECONDS",
    "MAX_CHANNELS",
    "STDIN",
    "AudioFileError",
    "AudioInput",
    "DecodedAudio",
    "SpeechSegments",
    "check_format",
    "decode_file",
    "decode_raw",
    "in_thread",
    "open_file",
    "open_stream",
    "push_frames",
    "read_file",
    "stream_frames",
]

MAX_QUEUED_SECONDS = 5.0
"""Audio :func:`push_frames` lets wait unsent in a stream (pushed, not yet cut into chunks) before
it waits too: a recording pushed faster than the connection sends is held in the decoder, not
in memory."""


async def push_frames(
    stream: stt.RecognizeStream,
    frames: Iterable[rtc.AudioFrame] | AsyncIterable[rtc.AudioFrame],
    *,
    speed: float | None = None,
    end_input: bool = True,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Push frames into a stream, as fast as it takes them or paced like a live caller.

    Args:
        stream: Any livekit ``RecognizeStream``.
        frames: The audio: a sequence, or an (async) iterator that yields frames as they
            arrive (standard input, see :func:`open_stream` and :func:`in_thread`).
        speed: Pace at this multiple of real time (1.0: a live caller); None pushes as
            fast as possible, yielding to the loop every few frames so the stream sends
            while we push.
        end_input: Call ``stream.end_input()`` after the last frame.
        progress: Called with the seconds of audio pushed so far, after each frame.

    A speechkit stream that holds :data:`MAX_QUEUED_SECONDS` of audio not yet sent makes it wait
    (backpressure), so an input of any length is pushed in bounded memory.
    """
    t0, pushed, i = time.monotonic(), 0.0, 0
    async for frame in _aiter(frames):
        if getattr(stream, "queued_seconds", 0.0) > MAX_QUEUED_SECONDS:
            await _room(stream)
        stream.push_frame(frame)
        pushed += frame.samples_per_channel / frame.sample_rate
        if progress is not None:
            progress(pushed)
        if speed:  # an absolute schedule, so sleeps do not drift
            await asyncio.sleep(max(0.0, t0 + pushed / speed - time.monotonic()))
        elif i % 25 == 0:
            await asyncio.sleep(0)
        i += 1
    if end_input:
        stream.end_input()


async def _room(stream: stt.RecognizeStream) -> None:
    # the stream offers no event for it: poll, only while it is full
    while getattr(stream, "queued_seconds", 0.0) > MAX_QUEUED_SECONDS:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def _aiter(frames: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(frames, AsyncIterable):
        async for item in frames:
            yield item
    else:
        for item in frames:
            yield item


class SpeechSegments:
    """Runs of speech between pauses, found as frames are fed, by the stream core's pause rule.

    Frames are down-mixed as the stream down-mixes them and cut into windows of ``window``
    seconds, each judged by :class:`speechkit.stream.pauses.PauseDetector`, the detector the
    core confirms replay audio with for finals without times: for the same mono audio in the
    same windows, the runs here end exactly at the stream's pause boundaries.

    Args:
        window: Seconds per RMS window.
    """

    def __init__(self, window: float = 0.1) -> None:
        self._window = window
        self._detector = PauseDetector()
        self._pending = b""
        self._pos = 0.0  # seconds of audio fed into windows so far

    def feed(self, frame: rtc.AudioFrame) -> None:
        """Add the next frame (PCM s16le, the same rate and channels as the ones before)."""
        mono = downmix(frame)
        self._pending += bytes(mono.data)
        rate = mono.sample_rate
        step = max(1, int(rate * self._window)) * 2
        while len(self._pending) >= step:
            window, self._pending = self._pending[:step], self._pending[step:]
            start, self._pos = self._pos, self._pos + step // 2 / rate
            self._detector.feed(window, start, self._pos)

    @property
    def segments(self) -> list[tuple[float, float]]:
        """``(start, end)`` seconds of each run so far; the last may still be open."""
        return self._detector.runs
