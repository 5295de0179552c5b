"""Audio helpers: reading files, standard input and raw PCM into livekit frames (PyAV), pushing
frames, and speech runs by the core's pause rule (wire encodings: :mod:`speechkit.codecs`)."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import attrs
from livekit import rtc
from livekit.agents import stt

from .stream.input import downmix
from .stream.pauses import PauseDetector

FRAME_SECONDS = 0.02
"""Frames are cut at 20 ms, as a real-time caller (WebRTC) delivers them."""

T = TypeVar("T")


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
            arrive (standard input, see :func:`stream_frames` and :func:`in_thread`).
        speed: Pace at this multiple of real time (1.0: a live caller); None pushes as
            fast as possible, yielding to the loop every few frames so the stream sends
            while we push.
        end_input: Call ``stream.end_input()`` after the last frame.
        progress: Called with the seconds of audio pushed so far, after each frame.
    """
    t0, pushed, i = time.monotonic(), 0.0, 0
    async for frame in _aiter(frames):
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


async def _aiter(frames: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(frames, AsyncIterable):
        async for item in frames:
            yield item
    else:
        for item in frames:
            yield item


async def in_thread(items: Iterator[T], batch: int = 5) -> AsyncIterator[T]:
    """Iterate a blocking iterator (a decoder reading a pipe) in a worker thread.

    Args:
        items: The blocking iterator; its exceptions are raised here.
        batch: Items fetched per thread hop (5 frames: 100 ms of audio at most held back).
    """
    while chunk := await asyncio.to_thread(lambda: list(itertools.islice(items, batch))):
        for item in chunk:
            yield item


class AudioFileError(Exception):
    """A file is missing, unreadable or holds no decodable audio; the message says which."""


@attrs.frozen
class DecodedAudio:
    """A decoded file.

    Attributes:
        frames: PCM s16le frames of :data:`FRAME_SECONDS` at the file's own rate
            and channel count (the stream core resamples and down-mixes).
        sample_rate: Hz.
        num_channels: Channels in the file.
        duration: Seconds.
    """

    frames: list[rtc.AudioFrame]
    sample_rate: int
    num_channels: int
    duration: float


STDIN = "-"
"""The input name that means standard input (see :func:`stream_frames`)."""


def read_file(
    path: str | os.PathLike[str], *, input_rate: int | None = None, input_channels: int = 1
) -> DecodedAudio:
    """Decode a file: any container PyAV probes, or headerless PCM s16le with ``input_rate``.

    Blocking: call it from a worker thread in async code.

    Args:
        path: The file.
        input_rate: Hz of headerless PCM s16le; None probes the container (PyAV).
        input_channels: Interleaved channels of headerless PCM.

    Raises:
        AudioFileError: missing, unreadable or undecodable; the message names the file.
    """
    if input_rate is not None:
        p = _existing(path)
        return decode_raw(p.read_bytes(), input_rate, input_channels, name=str(p))
    return decode_file(path)


def stream_frames(
    source: BinaryIO, *, input_rate: int | None = None, input_channels: int = 1, name: str = "<stdin>"
) -> Iterator[rtc.AudioFrame]:
    """Decode a byte stream (standard input) frame by frame, as it arrives.

    Blocking (it reads the pipe): iterate it with :func:`in_thread` in async code.

    Args:
        source: The stream, e.g. ``sys.stdin.buffer``.
        input_rate: Hz of headerless PCM s16le; None probes the container (PyAV).
        input_channels: Interleaved channels of headerless PCM.
        name: For error messages.

    Yields:
        PCM s16le frames of :data:`FRAME_SECONDS` at the input's rate and channel count.

    Raises:
        AudioFileError: the stream cannot be decoded, or holds no audio.
    """
    samples = 0
    if input_rate is None:
        frames: Iterator[rtc.AudioFrame] = _container_frames(source, name)
    else:
        frames = _raw_frames(source, input_rate, input_channels, name)
    for frame in frames:
        samples += frame.samples_per_channel
        yield frame
    if samples == 0:
        raise AudioFileError(f"{name}: holds no audio samples")


def _raw_frames(source: BinaryIO, rate: int, channels: int, name: str) -> Iterator[rtc.AudioFrame]:
    chunker = _chunker(rate, channels, name)
    frame_bytes = int(rate * FRAME_SECONDS) * channels * 2
    while data := source.read(frame_bytes):
        yield from chunker.write(data)
    yield from chunker.flush()


def _chunker(rate: int, channels: int, name: str) -> Any:
    if not 1000 <= rate <= 384_000 or not 1 <= channels <= 32:
        raise AudioFileError(f"{name}: raw input needs a rate of 1000-384000 Hz and 1-32 channels")
    from livekit.agents.utils.audio import AudioByteStream

    return AudioByteStream(rate, channels, int(rate * FRAME_SECONDS))


def decode_raw(data: bytes, sample_rate: int, num_channels: int = 1, *, name: str = "<raw>") -> DecodedAudio:
    """Cut headerless PCM s16le (channels interleaved) into frames of :data:`FRAME_SECONDS`.

    Raises:
        AudioFileError: no whole sample in ``data``, or a rate/channel count out of range.
    """
    chunker = _chunker(sample_rate, num_channels, name)
    frames = [*chunker.write(data), *chunker.flush()]
    samples = sum(f.samples_per_channel for f in frames)
    if samples == 0:
        raise AudioFileError(f"{name}: holds no audio samples")
    return DecodedAudio(frames, sample_rate, num_channels, samples / sample_rate)


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a directory, not an audio file")
    return p


def decode_file(path: str | os.PathLike[str]) -> DecodedAudio:
    """Decode WAV, FLAC, MP3, OGG (anything FFmpeg reads) to s16le frames.

    Blocking: call it from a worker thread in async code.

    Raises:
        AudioFileError: the file does not exist, cannot be read, or has no audio stream.
    """
    p = _existing(path)
    return _decode(str(p), str(p))


def _decode(source: str | BinaryIO, name: str) -> DecodedAudio:
    out = list(_container_frames(source, name))
    samples = sum(f.samples_per_channel for f in out)
    if samples == 0:
        raise AudioFileError(f"{name}: holds no audio samples")
    return DecodedAudio(out, out[0].sample_rate, out[0].num_channels, samples / out[0].sample_rate)


def _container_frames(source: str | BinaryIO, name: str) -> Iterator[rtc.AudioFrame]:
    import av  # PyAV, as livekit's own decoder uses

    try:
        container = av.open(source, mode="r")
    except (av.error.FFmpegError, OSError) as e:
        raise AudioFileError(
            f"{name}: cannot decode ({e.__class__.__name__}: {e}); give a WAV, FLAC, MP3 or OGG file"
        ) from e
    with container:
        if not container.streams.audio:
            raise AudioFileError(f"{name}: has no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate or stream.codec_context.sample_rate)
        channels = stream.codec_context.channels or 1
        layout = "mono" if channels == 1 else "stereo" if channels == 2 else stream.layout.name
        resampler = av.AudioResampler(
            format="s16", layout=layout, rate=rate, frame_size=int(rate * FRAME_SECONDS)
        )
        try:
            for frame in container.decode(stream):
                for f in resampler.resample(frame):
                    yield _to_rtc(f, channels)
            for f in resampler.resample(None):
                yield _to_rtc(f, channels)
        except av.error.FFmpegError as e:
            raise AudioFileError(f"{name}: decoding failed ({e})") from e


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


def _to_rtc(f: object, channels: int) -> rtc.AudioFrame:
    data = f.to_ndarray().tobytes()  # type: ignore[attr-defined]
    return rtc.AudioFrame(data, int(f.sample_rate), channels, f.samples)  # type: ignore[attr-defined]
