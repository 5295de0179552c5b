"""The stream's input: resampling, down-mixing, chunking to the provider's chunk, tail padding.

``push_frame`` hands each frame to :class:`FrameInput`, which down-mixes it, resamples it to
the provider's rate (:class:`Resampler`, python-soxr) and queues it for the connection in
blocks that end where the next chunk completes, so the connection's task wakes once per chunk,
not once per 20 ms frame, and no chunk waits longer than it would frame by frame. The
connection's :class:`Chunker` cuts the blocks into the provider's chunks, places each on the
stream clock (seconds of audio since the stream began) and marks it speech or silence by the
pause rule (:mod:`speechkit.stream.pauses`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import soxr  # type: ignore[import-untyped]
from livekit import rtc
from livekit.agents import stt

from .pauses import PauseDetector

MIN_RATE = 1000
"""The lowest input sample rate a stream takes, Hz. Below it a frame is refused: there is no
speech band to keep, and resampling up multiplies what it holds (1 Hz to 16 kHz: 16,000 times)."""
MAX_RATE = 768_000
"""The highest input sample rate a stream takes, Hz (twice 384 kHz, the highest rate in use)."""

MAX_BLOCK_SECONDS = 1.0
"""Audio one queued block holds at most, seconds (whole chunks): a minute pushed in one frame is
queued as a minute of blocks, so the connection sends it as the replay buffer makes room
(backpressure) instead of all at once, trimming what a reconnect would replay."""

RESAMPLER_QUALITY = "HQ"
"""python-soxr's quality preset for input resampling: libsoxr's high quality. Against livekit's
``AudioResamplerQuality.HIGH`` it has the same passband and a steeper roll-off in the top 6%
below Nyquist; VHQ buys nothing for speech and holds back twice the audio
(``bench/resampler_quality.py`` compares them)."""


def downmix(frame: rtc.AudioFrame) -> rtc.AudioFrame:
    """A multi-channel PCM s16le frame averaged to mono (the channels' mean, truncated to s16);
    a mono frame is returned as is."""
    if frame.num_channels == 1:
        return frame
    mono = _mono(frame)
    return rtc.AudioFrame(mono.tobytes(), frame.sample_rate, 1, frame.samples_per_channel)


def _mono(frame: rtc.AudioFrame) -> np.ndarray[Any, np.dtype[np.int16]]:
    pcm = np.frombuffer(frame.data, dtype=np.int16)
    if frame.num_channels == 1:
        return pcm
    mono: np.ndarray[Any, np.dtype[np.float64]] = pcm.reshape(-1, frame.num_channels).mean(axis=1)
    return mono.astype(np.int16)


def check_frame(frame: rtc.AudioFrame) -> int:
    """A frame's samples per channel, once it is known to be PCM s16le a stream can take: a rate
    of :data:`MIN_RATE`-:data:`MAX_RATE` Hz, at least one channel, and exactly
    ``samples_per_channel * num_channels`` s16 samples of data (``rtc.AudioFrame`` accepts more,
    as a float32 buffer has twice the bytes). A frame with no samples and no data is fine (0).

    Raises:
        TypeError: not an ``rtc.AudioFrame``.
        ValueError: naming what is wrong and what is accepted.
    """
    if not isinstance(frame, rtc.AudioFrame):
        raise TypeError(f"push_frame takes an rtc.AudioFrame (PCM s16le), not {type(frame).__name__}")
    n, channels, held = frame.samples_per_channel, frame.num_channels, len(frame.data)
    if n == 0 and held == 0:
        return 0
    if not MIN_RATE <= frame.sample_rate <= MAX_RATE:
        raise ValueError(f"a frame's sample rate must be {MIN_RATE}-{MAX_RATE} Hz, got {frame.sample_rate}")
    if channels < 1:
        raise ValueError(f"a frame needs at least one channel, got num_channels={channels}")
    if held != n * channels:
        raise ValueError(
            f"a frame of {n} samples x {channels} channels must hold {2 * n * channels} bytes of "
            f"PCM s16le, this one holds {2 * held} (float32 audio holds twice as many: convert it)"
        )
    return n


def pad_tail(pcm: bytes, min_samples: int) -> tuple[bytes, int]:
    """``pcm`` padded with silence to at least ``min_samples`` samples (s16le mono).

    Returns:
        The padded bytes and the number of samples of padding added (0 when none).
    """
    short = min_samples - len(pcm) // 2
    if short <= 0:
        return pcm, 0
    return pcm + bytes(2 * short), short


_Samples = np.ndarray[Any, np.dtype[np.int16]] | np.ndarray[Any, np.dtype[np.float32]]


class Resampler:
    """PCM mono from ``in_rate`` to ``out_rate`` as one stream (python-soxr's
    ``ResampleStream``; a plain pass-through when the rates are equal).

    Exact in sample count: after each :meth:`flush` the output so far holds exactly
    ``samples_in * out_rate / in_rate`` samples rounded half up, however the input was cut
    into frames and however many flushes came before (soxr's own count drifts by one sample
    per flush). Deterministic: it resamples in float32 and rounds to s16 itself
    (:meth:`to_pcm`), because libsoxr's s16 output is dithered with a random seed (two runs of
    the same audio differ by 1-2 LSB, as livekit's ``AudioResampler`` output does); the float
    path gives the same samples for any cut of the input into frames.
    """

    __slots__ = ("_in", "_out", "_piece", "_stream", "in_rate", "out_rate")

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=RESAMPLER_QUALITY)
        )
        self._in = 0  # samples in since the stream began
        self._out = 0  # samples out
        # libsoxr's buffers grow to the longest input handed to it at once and stay that size
        # (48 kHz to 16 kHz: 59 KiB after 20 ms, 93 KiB after 100 ms, 389 KiB after 1 s):
        # pieces of at most 100 ms bound it; smaller ones cost twice the CPU of one per chunk
        self._piece = max(1, in_rate // 10)

    def push(self, pcm: np.ndarray[Any, np.dtype[np.int16]]) -> _Samples:
        """The output ``pcm`` (s16 samples) makes available, for :meth:`to_pcm`; the resampler
        holds back its delay (about 20 ms from 48 kHz)."""
        self._in += len(pcm)
        if self._stream is None:
            self._out += len(pcm)
            return pcm
        samples, piece, resample = pcm.astype(np.float32), self._piece, self._stream.resample_chunk
        out: np.ndarray[Any, np.dtype[np.float32]]
        if len(samples) <= piece:
            out = resample(samples)
        else:
            out = np.concatenate([resample(samples[k : k + piece]) for k in range(0, len(samples), piece)])
        self._out += len(out)
        return out

    def at_most(self, samples: int) -> int:
        """The most output that pushing ``samples`` more input could make available (what the
        input so far gives at the output rate, less what came out; the delay may hold some)."""
        return (self._in + samples) * self.out_rate // self.in_rate + 1 - self._out

    def flush(self) -> _Samples:
        """The audio held back (a flush or the end of input); the next push starts afresh."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        out: np.ndarray[Any, np.dtype[np.float32]] = self._stream.resample_chunk(
            np.zeros(0, dtype=np.float32), last=True
        )
        self._stream.clear()
        # round half up, as libsoxr counts: each flush keeps the total exact
        short = (self._in * self.out_rate + self.in_rate // 2) // self.in_rate - self._out - len(out)
        if short > 0:
            out = np.concatenate([out, np.zeros(short, dtype=np.float32)])
        elif short < 0:
            out = out[: max(0, len(out) + short)]
        self._out += len(out)
        return out

    @staticmethod
    def to_pcm(parts: list[_Samples]) -> bytes:
        """PCM s16le of consecutive outputs (rounded to the nearest s16 value, clipped)."""
        samples = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if samples.dtype != np.int16:
            if len(parts) == 1:
                samples = samples.copy()  # rounded in place below
            # ufuncs in place: np.clip's Python dispatch costs more than the arithmetic here
            np.rint(samples, out=samples)
            np.minimum(samples, 32767, out=samples)
            np.maximum(samples, -32768, out=samples)
            samples = samples.astype(np.int16)
        return samples.tobytes()


class PcmBlock(stt.RecognizeStream._FlushSentinel):
    """Resampled audio queued on the input channel (PCM s16le mono at the provider's rate)."""

    __slots__ = ("pcm",)

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm


class FrameInput:
    """``push_frame``'s half of the input: frames of one rate and any channel count in, blocks
    of resampled PCM out, each ending where the chunker's next chunk completes.

    The resampler runs only when the input held could complete the next chunk, and the
    output is rounded to s16 once per block: a few calls per chunk, not one per frame, and no
    chunk later than frame-by-frame resampling would make it.

    Args:
        rate: The provider's sample rate, Hz.
        chunker: The stream's chunker (it says how many bytes complete its next chunk).
    """

    __slots__ = ("_chunker", "_held", "_held_samples", "_out", "_out_samples", "_resampler", "rate")

    def __init__(self, rate: int, chunker: Chunker) -> None:
        self.rate = rate
        self._chunker = chunker
        self._resampler: Resampler | None = None
        self._held = bytearray()  # input (PCM s16le mono) not resampled yet: a copy, as the
        self._held_samples = 0  # caller may reuse a frame's buffer
        self._out: list[_Samples] = []  # resampled, not queued yet
        self._out_samples = 0

    def push(self, frame: rtc.AudioFrame) -> list[PcmBlock]:
        """Take ``frame``; the blocks to queue, once it completes a chunk (none before).

        A frame with no samples is ignored, whatever its rate and channels.

        Raises:
            TypeError: ``frame`` is not an ``rtc.AudioFrame``.
            ValueError: the frame is malformed (:func:`check_frame`), or its sample rate differs
                from earlier frames'.
        """
        if check_frame(frame) == 0:
            return []
        rs = self._resampler
        if rs is None:
            rs = self._resampler = Resampler(frame.sample_rate, self.rate)
        elif frame.sample_rate != rs.in_rate:
            raise ValueError(
                f"sample rate changed within a stream: {rs.in_rate} Hz, then "
                f"{frame.sample_rate} Hz; open a new stream for a new rate (nothing pushed before is lost)"
            )
        if frame.num_channels == 1:
            self._held += frame.data
        else:
            self._held += _mono(frame).tobytes()
        self._held_samples += frame.samples_per_channel
        need = self._chunker.bytes_to_chunk() // 2
        if rs.at_most(self._held_samples) < need - self._out_samples:  # cannot complete it yet
            return []
        self._resample(rs.push)
        return self._take_blocks() if self._out_samples >= need else []

    def flush(self) -> PcmBlock | None:
        """What is held back (input, resampler delay, a partial chunk) as a block, or None."""
        if self._resampler is None:
            return None
        self._resample(self._resampler.push)
        self._add(self._resampler.flush())
        return self._take() if self._out_samples else None

    def _resample(self, push: Callable[[np.ndarray[Any, np.dtype[np.int16]]], _Samples]) -> None:
        if not self._held:
            return
        pcm = np.frombuffer(bytes(self._held), dtype=np.int16)
        self._held.clear()
        self._held_samples = 0
        self._add(push(pcm))

    def _add(self, samples: _Samples) -> None:
        if len(samples):
            self._out.append(samples)
            self._out_samples += len(samples)

    def _take(self) -> PcmBlock:
        block = PcmBlock(Resampler.to_pcm(self._out))
        self._out.clear()
        self._out_samples = 0
        self._chunker.queued += len(block.pcm)
        return block

    def _take_blocks(self) -> list[PcmBlock]:
        """What is resampled, as blocks of at most :data:`MAX_BLOCK_SECONDS` (one block, as a
        rule: a frame of 20 ms completes one chunk). Each block but the last ends on a chunk
        boundary and each completes at least one chunk."""
        first = self._chunker.bytes_to_chunk()
        size = 2 * self._chunker.chunk_samples
        step = size * max(1, int(MAX_BLOCK_SECONDS * self.rate) // self._chunker.chunk_samples)
        if 2 * self._out_samples <= first + step:
            return [self._take()]
        pcm = self._take().pcm
        cuts = [0, *range(first, len(pcm), step)]
        if len(pcm) - cuts[-1] < size:  # a tail that completes no chunk joins the block before
            cuts.pop()
        cuts.append(len(pcm))
        return [PcmBlock(pcm[a:b]) for a, b in itertools.pairwise(cuts)]


@attrs.define(slots=True)
class Chunk:
    """One chunk of audio as sent to a provider.

    Attributes:
        data: PCM s16le mono at the provider's rate.
        start: Stream-clock seconds of its first sample.
        end: Stream-clock seconds after its last sample.
        sent_at: ``time.monotonic()`` when it was complete (its last sample pushed).
        speech: Louder than the silence threshold (:class:`PauseDetector`).
        pause: The pause boundary it completed (stream clock, seconds: where the speech
            before the pause ended), or None.
    """

    data: bytes
    start: float
    end: float
    sent_at: float
    speech: bool = False
    pause: float | None = None


class Chunker:
    """Cuts the resampled input into the provider's chunks on the stream clock.

    Args:
        rate: Sample rate of the input and of the chunks, Hz.
        chunk_samples: Samples per chunk.
        pauses: The stream's pause detector, fed every chunk.
        on_boundary: Called with each pause boundary (stream-clock seconds) as it is found,
            before the chunk that completed it is returned.
    """

    __slots__ = ("_buf", "_on_boundary", "_pauses", "chunk_samples", "position", "queued", "rate")

    def __init__(
        self, rate: int, chunk_samples: int, pauses: PauseDetector, on_boundary: Callable[[float], None]
    ) -> None:
        self.rate = rate
        self.chunk_samples = chunk_samples
        self._pauses = pauses
        self._on_boundary = on_boundary
        self._buf = bytearray()  # the partial chunk
        self.position = 0.0
        """Seconds of audio chunked so far (stream clock)."""
        self.queued = 0
        """Bytes queued for :meth:`push` and not pushed yet (:class:`FrameInput` counts them)."""

    def bytes_to_chunk(self) -> int:
        """Bytes that, queued after what is queued now, complete the next chunk."""
        size = 2 * self.chunk_samples
        return size - (len(self._buf) + self.queued) % size

    def push(self, pcm: bytes | memoryview) -> list[Chunk]:
        """The chunks that ``pcm`` (PCM s16le mono, a queued block) completes, in order."""
        self.queued = max(0, self.queued - len(pcm))
        buf, size = self._buf, 2 * self.chunk_samples
        if not buf and len(pcm) == size:  # the common case: one whole chunk, no copy
            return [self._chunk(bytes(pcm))]
        buf += pcm
        if len(buf) < size:
            return []
        whole = len(buf) - len(buf) % size
        chunks = [self._chunk(bytes(buf[k : k + size])) for k in range(0, whole, size)]
        del buf[:whole]
        return chunks

    def flush(self) -> list[Chunk]:
        """The partial chunk held back, if any (a flush or the end of input), then a boundary."""
        chunks = self._partial()
        if (at := self._pauses.boundary(self.position)) is not None:
            self._on_boundary(at)
        return chunks

    def resize(self, chunk_samples: int) -> list[Chunk]:
        """Cut chunks of ``chunk_samples`` from now on (a chain's next member frames audio
        otherwise); the partial chunk held so far is returned as a chunk of its own."""
        if chunk_samples == self.chunk_samples:
            return []
        chunks = self._partial()
        self.chunk_samples = chunk_samples
        return chunks

    def _partial(self) -> list[Chunk]:
        if not self._buf:
            return []
        data = bytes(self._buf)
        self._buf.clear()
        return [self._chunk(data)]

    def _chunk(self, data: bytes) -> Chunk:
        start = self.position
        self.position += len(data) / 2 / self.rate
        speech, boundary = self._pauses.feed(data, start, self.position)
        if boundary is not None:
            self._on_boundary(boundary)
        return Chunk(data, start, self.position, time.monotonic(), speech, boundary)
