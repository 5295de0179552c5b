"""Reading audio files into livekit frames (PyAV), for the CLI and batch use."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
from livekit import rtc

FRAME_SECONDS = 0.02
"""Frames are cut at 20 ms, as a real-time caller (WebRTC) delivers them."""


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
