"""Reading audio files, standard input and raw PCM into livekit frames (PyAV), for the CLI and batch use."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import attrs
from livekit import rtc
from livekit.agents import stt

FRAME_SECONDS = 0.02
"""Frames are cut at 20 ms, as a real-time caller (WebRTC) delivers them."""


async def push_frames(
    stream: stt.RecognizeStream,
    frames: Sequence[rtc.AudioFrame],
    *,
    speed: float | None = None,
    end_input: bool = True,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Push frames into a stream, as fast as it takes them or paced like a live caller.

    Args:
        stream: Any livekit ``RecognizeStream``.
        frames: The audio.
        speed: Pace at this multiple of real time (1.0: a live caller); None pushes as
            fast as possible, yielding to the loop every few frames so the stream sends
            while we push.
        end_input: Call ``stream.end_input()`` after the last frame.
        progress: Called with the seconds of audio pushed so far, after each frame.
    """
    t0, pushed = time.monotonic(), 0.0
    for i, frame in enumerate(frames):
        stream.push_frame(frame)
        pushed += frame.samples_per_channel / frame.sample_rate
        if progress is not None:
            progress(pushed)
        if speed:  # an absolute schedule, so sleeps do not drift
            await asyncio.sleep(max(0.0, t0 + pushed / speed - time.monotonic()))
        elif i % 25 == 0:
            await asyncio.sleep(0)
    if end_input:
        stream.end_input()


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
"""The input name that means standard input."""


def read_input(
    path: str | os.PathLike[str],
    *,
    input_rate: int | None = None,
    input_channels: int = 1,
    stdin: BinaryIO | None = None,
) -> DecodedAudio:
    """Decode a file, or standard input when ``path`` is ``"-"``.

    Blocking: call it from a worker thread in async code. Standard input is read to its
    end first (``ffmpeg ... | speechkit transcribe -``).

    Args:
        path: A file path, or ``"-"`` for standard input.
        input_rate: Hz of headerless PCM s16le input; None probes the container (PyAV).
        input_channels: Interleaved channels of headerless PCM input.
        stdin: The stream ``"-"`` reads (default: ``sys.stdin.buffer``).

    Raises:
        AudioFileError: missing, unreadable or undecodable input; the message names it.
    """
    if str(path) == STDIN:
        data = (stdin or sys.stdin.buffer).read()
        if input_rate is not None:
            return decode_raw(data, input_rate, input_channels, name="<stdin>")
        return _decode(io.BytesIO(data), "<stdin>")
    if input_rate is not None:
        p = _existing(path)
        return decode_raw(p.read_bytes(), input_rate, input_channels, name=str(p))
    return decode_file(path)


def decode_raw(data: bytes, sample_rate: int, num_channels: int = 1, *, name: str = "<raw>") -> DecodedAudio:
    """Cut headerless PCM s16le (channels interleaved) into frames of :data:`FRAME_SECONDS`.

    Raises:
        AudioFileError: no whole sample in ``data``, or a rate/channel count out of range.
    """
    if not 1000 <= sample_rate <= 384_000 or not 1 <= num_channels <= 32:
        raise AudioFileError(f"{name}: raw input needs a rate of 1000-384000 Hz and 1-32 channels")
    from livekit.agents.utils.audio import AudioByteStream

    chunker = AudioByteStream(sample_rate, num_channels, int(sample_rate * FRAME_SECONDS))
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
        out: list[rtc.AudioFrame] = []
        samples = 0
        try:
            for frame in container.decode(stream):
                for f in resampler.resample(frame):
                    out.append(_to_rtc(f, channels))
                    samples += f.samples
            for f in resampler.resample(None):
                out.append(_to_rtc(f, channels))
                samples += f.samples
        except av.error.FFmpegError as e:
            raise AudioFileError(f"{name}: decoding failed ({e})") from e
    if samples == 0:
        raise AudioFileError(f"{name}: holds no audio samples")
    return DecodedAudio(out, rate, channels, samples / rate)


def speech_segments(audio: DecodedAudio, window: float = 0.1) -> list[tuple[float, float]]:
    """Runs of speech separated by pauses, by the rule the stream core uses for untimed finals.

    A window of ``window`` seconds is silent when its RMS is below the stream's threshold
    (``speechkit.stream.SILENCE_RMS``, or ``SILENCE_RELATIVE`` of the loudest window so
    far); ``PAUSE_SECONDS`` of silence after speech end a segment where the silence began.

    Returns:
        ``(start, end)`` seconds of each segment, in order.
    """
    import numpy as np

    from .stream import PAUSE_SECONDS, SILENCE_RELATIVE, SILENCE_RMS

    pcm = np.frombuffer(b"".join(bytes(f.data) for f in audio.frames), dtype=np.int16)
    mono = pcm.reshape(-1, audio.num_channels).astype(np.float32).mean(axis=1)
    step = max(1, int(audio.sample_rate * window))
    segments: list[tuple[float, float]] = []
    peak, start, silence_at = 0.0, None, None
    for i in range(0, len(mono), step):
        part = mono[i : i + step]
        rms = float(np.sqrt(np.mean(part * part)))
        peak = max(peak, rms)
        t = i / audio.sample_rate
        if rms >= max(SILENCE_RMS, SILENCE_RELATIVE * peak):
            start = t if start is None else start
            silence_at = None
            continue
        silence_at = t if silence_at is None else silence_at
        if start is not None and (i + len(part)) / audio.sample_rate - silence_at >= PAUSE_SECONDS - 1e-6:
            segments.append((start, silence_at))
            start = None
    if start is not None:
        segments.append((start, silence_at if silence_at is not None else len(mono) / audio.sample_rate))
    return segments


def _to_rtc(f: object, channels: int) -> rtc.AudioFrame:
    data = f.to_ndarray().tobytes()  # type: ignore[attr-defined]
    return rtc.AudioFrame(data, int(f.sample_rate), channels, f.samples)  # type: ignore[attr-defined]
