"""Decoding inputs into livekit frames: files and standard input (any container PyAV probes),
and headerless PCM s16le.

Inputs are decoded as they are read (:func:`open_file`, :func:`open_stream`), one frame at a
time, so a 3-hour file takes no more memory than a short one. What a bad input gets: a missing,
empty or non-audio file, a rate outside 1-768 kHz (:data:`~speechkit.stream.input.MIN_RATE`,
:data:`~speechkit.stream.input.MAX_RATE`) or over :data:`MAX_CHANNELS` channels is refused by
name (:class:`AudioFileError`); a file that fails to decode midway gives its frames up to the
failure, then the error; a file shorter than its header declares (truncated) is decoded to its
end with a warning; float samples that are NaN become silence and ±Inf full scale (as clipping
makes any sample beyond ±1.0), with a warning.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import numpy as np
from livekit import rtc

from .stream.input import MAX_RATE, MIN_RATE

logger = logging.getLogger("speechkit")

Readable = BinaryIO | io.RawIOBase
"""A byte stream to decode: ``sys.stdin.buffer``, an open file, a
:class:`~speechkit.blocking.PipeReader`."""

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


class AudioInput:
    """An opened input: its format, known once opened, and its frames, decoded as they are
    iterated (blocking: iterate it with :func:`speechkit.blocking.in_thread` in async code).
    Nothing but the frame being decoded is held, so an input of any length decodes in bounded
    memory. Iterate it once.

    Attributes:
        name: For messages (the path, or ``<stdin>``).
        sample_rate: Hz.
        num_channels: Channels.
        duration: Seconds the input declares (its header, or a raw file's size); None when
            unknown (a pipe).
    """

    def __init__(
        self, name: str, sample_rate: int, num_channels: int, duration: float | None, frames: Iterator[Any]
    ) -> None:
        self.name, self.sample_rate, self.num_channels = name, sample_rate, num_channels
        self.duration = duration
        self._frames: Iterator[rtc.AudioFrame] = frames

    def __iter__(self) -> Iterator[rtc.AudioFrame]:
        return self._frames

    def decode(self) -> DecodedAudio:
        """Every frame, in memory (:func:`decode_file`).

        Raises:
            AudioFileError: the input cannot be decoded to its end, or holds no audio.
        """
        frames = list(self)
        seconds = sum(f.samples_per_channel for f in frames) / self.sample_rate
        return DecodedAudio(frames, self.sample_rate, self.num_channels, seconds)


STDIN = "-"
"""The input name that means standard input (see :func:`open_stream`)."""

MAX_CHANNELS = 64
"""Channels an input may have."""


def check_format(name: str, rate: int, channels: int) -> None:
    """An input's format in range: :data:`~speechkit.stream.input.MIN_RATE` to
    :data:`~speechkit.stream.input.MAX_RATE` Hz, 1 to :data:`MAX_CHANNELS` channels.

    Raises:
        AudioFileError: naming the input, what it declares and what is accepted.
    """
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFileError(f"{name}: a sample rate of {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(f"{name}: {channels} channels is outside 1-{MAX_CHANNELS}")


def open_file(
    path: str | os.PathLike[str], *, input_rate: int | None = None, input_channels: int = 1
) -> AudioInput:
    """Open a file for decoding: any container PyAV probes, or headerless PCM s16le with
    ``input_rate``. Blocking (a FIFO blocks until it has a writer).

    Args:
        path: The file (or a FIFO).
        input_rate: Hz of headerless PCM s16le; None probes the container (PyAV).
        input_channels: Interleaved channels of headerless PCM.

    Raises:
        AudioFileError: missing, a directory, empty, not audio, or a format out of range
            (:func:`check_format`); the message names the file. A file that fails midway
            raises it from the iteration, after the frames before the failure.
    """
    p = _existing(path)
    if input_rate is not None:
        check_format(str(p), input_rate, input_channels)
        size = p.stat().st_size if p.is_file() else None
        duration = None if size is None else size / (2 * input_channels * input_rate)
        frames = _raw(p.open("rb"), input_rate, input_channels, str(p), owned=True)
        return AudioInput(str(p), input_rate, input_channels, duration, frames)
    if p.is_file() and p.stat().st_size == 0:
        raise AudioFileError(f"{p}: is empty (0 bytes)")
    # FFmpeg reports a WAV's length as what the file holds, not what its header declares
    return _open_container(
        str(p), str(p), declared=True, header=_wav_data_seconds(p) if p.is_file() else None
    )


def open_stream(
    source: Readable, *, input_rate: int | None = None, input_channels: int = 1, name: str = "<stdin>"
) -> AudioInput:
    """Open a byte stream (standard input) for decoding as it arrives. Blocking: probing a
    container reads its start.

    A container is read with ``read1`` (what the pipe holds, not a full buffer), so frames come
    as the writer sends them; raw PCM is read a frame at a time.

    Args:
        source: The stream, e.g. ``sys.stdin.buffer``.
        input_rate: Hz of headerless PCM s16le; None probes the container (PyAV).
        input_channels: Interleaved channels of headerless PCM.
        name: For messages.

    Raises:
        AudioFileError: the stream is not audio, or its format is out of range.
    """
    if input_rate is not None:
        check_format(name, input_rate, input_channels)
        frames = _raw(source, input_rate, input_channels, name, owned=False)
        return AudioInput(name, input_rate, input_channels, None, frames)
    return _open_container(_AsItArrives(source), name, declared=False)


def read_file(
    path: str | os.PathLike[str], *, input_rate: int | None = None, input_channels: int = 1
) -> DecodedAudio:
    """Decode a whole file into memory (:func:`open_file`, then :meth:`AudioInput.decode`).

    Blocking: call it from a worker thread in async code. For long inputs iterate
    :func:`open_file` instead: it holds one frame at a time.

    Raises:
        AudioFileError: missing, unreadable or undecodable; the message names the file.
    """
    return open_file(path, input_rate=input_rate, input_channels=input_channels).decode()


def stream_frames(
    source: Readable, *, input_rate: int | None = None, input_channels: int = 1, name: str = "<stdin>"
) -> Iterator[rtc.AudioFrame]:
    """Decode a byte stream (standard input) frame by frame, as it arrives (:func:`open_stream`,
    opened at the first frame asked for).

    Yields:
        PCM s16le frames of :data:`FRAME_SECONDS` at the input's rate and channel count.

    Raises:
        AudioFileError: the stream cannot be decoded, or holds no audio.
    """
    yield from open_stream(source, input_rate=input_rate, input_channels=input_channels, name=name)


def _raw(source: Readable, rate: int, channels: int, name: str, *, owned: bool) -> Iterator[rtc.AudioFrame]:
    from livekit.agents.utils.audio import AudioByteStream

    chunker = AudioByteStream(rate, channels, int(rate * FRAME_SECONDS))
    frame_bytes, total = int(rate * FRAME_SECONDS) * channels * 2, 0
    try:
        while data := source.read(frame_bytes):
            total += len(data)
            yield from chunker.write(data)
        yield from chunker.flush()
    finally:
        if owned:
            source.close()
    if total < 2 * channels:
        raise AudioFileError(f"{name}: holds no audio samples")
    if rest := total % (2 * channels):
        logger.warning("%s: the last %d bytes are not a whole sample; ignored", name, rest)


def decode_raw(data: bytes, sample_rate: int, num_channels: int = 1, *, name: str = "<raw>") -> DecodedAudio:
    """Cut headerless PCM s16le (channels interleaved) into frames of :data:`FRAME_SECONDS`.

    Raises:
        AudioFileError: no whole sample in ``data``, or a rate/channel count out of range.
    """
    check_format(name, sample_rate, num_channels)
    frames = _raw(io.BytesIO(data), sample_rate, num_channels, name, owned=True)
    return AudioInput(name, sample_rate, num_channels, None, frames).decode()


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a directory, not an audio file")
    return p


def decode_file(path: str | os.PathLike[str]) -> DecodedAudio:
    """Decode WAV, FLAC, MP3, OGG (anything FFmpeg reads) to s16le frames, all in memory.

    Blocking: call it from a worker thread in async code. Float samples are converted as
    :func:`open_file` says (NaN as silence, ±Inf as full scale).

    Raises:
        AudioFileError: the file does not exist, cannot be read, has no audio stream, or fails
            to decode midway.
    """
    return read_file(path)


class _AsItArrives:
    """A pipe for PyAV: ``read(n)`` returns what the pipe holds (``read1``), not ``n`` bytes,
    which a buffered read waits for; seekable only when the source is (a redirected file)."""

    def __init__(self, source: Readable) -> None:
        self._source = source
        if getattr(source, "seekable", lambda: False)():
            self.seek, self.tell = source.seek, source.tell

    def read(self, n: int = -1) -> bytes:
        read1 = getattr(self._source, "read1", None)
        return read1(n) if read1 is not None and n > 0 else self._source.read(n)


def _why(e: BaseException) -> str:
    return str(getattr(e, "strerror", None) or e)


def _open_container(
    source: str | _AsItArrives, name: str, *, declared: bool, header: float | None = None
) -> AudioInput:
    import av  # PyAV, as livekit's own decoder uses

    try:
        container = av.open(source, mode="r")
    except (av.error.FFmpegError, OSError) as e:
        raise AudioFileError(f"{name}: cannot decode: {_why(e)}; give a WAV, FLAC, MP3 or OGG file") from e
    try:
        if not container.streams.audio:
            raise AudioFileError(f"{name}: has no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        channels = int(stream.codec_context.channels or 0)
        check_format(name, rate, channels)
        length = header  # seconds the input declares, to tell a truncated one
        if length is None and declared and stream.duration and stream.time_base:
            length = float(stream.duration * stream.time_base)
        elif length is None and declared and container.duration:
            length = container.duration / av.time_base
    except BaseException:
        container.close()
        raise
    frames = _decoded_check(_decoded(container, stream, name), name, rate, length)
    return AudioInput(name, rate, channels, length, frames)


def _wav_data_seconds(path: Path) -> float | None:
    """Seconds the ``data`` chunk of a RIFF/WAVE file's header declares; None for another format,
    or a streaming header (size 0, 0x7FFFFFFF or 0xFFFFFFFF: the length was unknown)."""
    rate = align = 0
    with path.open("rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while len(chunk := f.read(8)) == 8:
            kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind == b"fmt ":
                fmt = f.read(size + size % 2)
                rate, align = int.from_bytes(fmt[4:8], "little"), int.from_bytes(fmt[12:14], "little")
            elif kind == b"data":
                if size in (0, 0x7FFFFFFF, 0xFFFFFFFF) or not rate or not align:
                    return None
                return size // align / rate
            else:
                f.seek(size + size % 2, os.SEEK_CUR)
    return None


def _decoded_check(
    frames: Iterator[rtc.AudioFrame], name: str, rate: int, declared: float | None
) -> Iterator[rtc.AudioFrame]:
    """``frames``, then a warning if they end well before the ``declared`` seconds (truncated)."""
    samples = 0
    for frame in frames:
        samples += frame.samples_per_channel
        yield frame
    if declared is not None and samples / rate < declared - max(0.5, 0.02 * declared):
        logger.warning(
            "%s: ends at %.2f s, but its header declares %.2f s: the file looks truncated",
            name,
            samples / rate,
            declared,
        )


def _decoded(container: Any, stream: Any, name: str) -> Iterator[rtc.AudioFrame]:
    import av

    rate, channels = int(stream.rate or stream.codec_context.sample_rate), int(stream.codec_context.channels)
    floating = stream.codec_context.format.name in ("flt", "fltp", "dbl", "dblp")
    layout = "mono" if channels == 1 else "stereo" if channels == 2 else stream.layout.name
    resampler = av.AudioResampler(
        format="flt" if floating else "s16", layout=layout, rate=rate, frame_size=int(rate * FRAME_SECONDS)
    )
    samples = nonfinite = 0
    try:
        with container:
            try:
                for frame in itertools.chain(container.decode(stream), [None]):
                    for f in resampler.resample(frame):
                        if floating:
                            pcm, bad = _float_to_s16(f.to_ndarray())
                            nonfinite += bad
                        else:
                            pcm = f.to_ndarray().tobytes()
                        samples += f.samples
                        yield rtc.AudioFrame(pcm, rate, channels, f.samples)
            except av.error.FFmpegError as e:
                raise AudioFileError(f"{name}: decoding failed at {samples / rate:.2f} s: {_why(e)}") from e
    finally:
        if nonfinite:
            logger.warning(
                "%s: %d samples were NaN or infinite: NaN is decoded as silence, ±Inf as full scale",
                name,
                nonfinite,
            )
    if samples == 0:
        raise AudioFileError(f"{name}: holds no audio samples")


def _float_to_s16(samples: np.ndarray[Any, Any]) -> tuple[bytes, int]:
    """Float samples (full scale ±1.0) to PCM s16 as FFmpeg converts them (``lrintf(x * 32768)``,
    clipped), except that NaN, which FFmpeg turns into -32768 (a full-scale click), becomes 0
    and ±Inf becomes full scale. Returns the PCM and the count of non-finite samples."""
    wide = samples.astype(np.float64)
    finite = np.isfinite(wide)
    bad = wide.size - int(np.count_nonzero(finite))
    if bad:
        np.nan_to_num(wide, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    np.rint(wide * 32768.0, out=wide)
    return np.clip(wide, -32768, 32767).astype(np.int16).tobytes(), bad
