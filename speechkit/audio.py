"""Audio helpers: reading files into livekit frames (PyAV), pushing frames, wire encodings."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents import stt

WIRE_ENCODINGS = {"pcm_s16le": 2, "pcm_f32le": 4, "mulaw": 1}
"""Wire encodings :func:`encode_pcm` produces, with their bytes per sample."""

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


def decode_file(path: str | os.PathLike[str]) -> DecodedAudio:
    """Decode WAV, FLAC, MP3, OGG (anything FFmpeg reads) to s16le frames.

    Blocking: call it from a worker thread in async code.

    Raises:
        AudioFileError: the file does not exist, cannot be read, or has no audio stream.
    """
    import av  # PyAV, as livekit's own decoder uses

    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a directory, not an audio file")
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError) as e:
        raise AudioFileError(
            f"{p}: cannot decode ({e.__class__.__name__}: {e}); give a WAV, FLAC, MP3 or OGG file"
        ) from e
    with container:
        if not container.streams.audio:
            raise AudioFileError(f"{p}: has no audio stream")
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
            raise AudioFileError(f"{p}: decoding failed ({e})") from e
    if samples == 0:
        raise AudioFileError(f"{p}: holds no audio samples")
    return DecodedAudio(out, rate, channels, samples / rate)


def _to_rtc(f: object, channels: int) -> rtc.AudioFrame:
    data = f.to_ndarray().tobytes()  # type: ignore[attr-defined]
    return rtc.AudioFrame(data, int(f.sample_rate), channels, f.samples)  # type: ignore[attr-defined]


def mulaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """G.711 μ-law encode int16 samples, one byte per sample (bit-exact with ``audioop.lin2ulaw``)."""
    v = pcm.astype(np.int32) >> 2  # G.711 works on 14-bit samples
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + 0x21
    segment = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), v)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((v >> (segment + 1)) & 0x0F))  # 8: clipped
    return bytes((code ^ mask).astype(np.uint8).tobytes())


def encode_pcm(pcm: bytes, encoding: str) -> bytes:
    """Re-encode PCM s16le mono for the wire.

    Args:
        pcm: PCM s16le bytes (an odd trailing byte is dropped).
        encoding: A key of :data:`WIRE_ENCODINGS`: ``pcm_s16le`` (returned as is),
            ``pcm_f32le`` (floats in [-1, 1)) or ``mulaw`` (G.711 μ-law).

    Raises:
        ValueError: an unknown encoding.
    """
    if encoding == "pcm_s16le":
        return pcm
    samples = np.frombuffer(pcm[: len(pcm) & ~1], dtype="<i2")
    if encoding == "pcm_f32le":
        return (samples.astype("<f4") / 32768.0).astype("<f4").tobytes()
    if encoding == "mulaw":
        return mulaw_encode(samples)
    raise ValueError(f"unknown wire encoding {encoding!r}; known: {', '.join(WIRE_ENCODINGS)}")
