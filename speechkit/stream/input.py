"""The stream's input: down-mixing, chunking to the provider's chunk, and tail padding.

Resampling to the provider's rate happens before this, in livekit's ``RecognizeStream``
(``rtc.AudioResampler``). What arrives here is PCM s16le mono at the provider's rate; the
:class:`Chunker` cuts it into the provider's chunks (livekit's ``AudioByteStream``), places
each on the stream clock (seconds of audio since the stream began) and marks it speech or
silence by the pause rule (:mod:`speechkit.stream.pauses`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import numpy as np
from livekit import rtc
from livekit.agents import utils

from .pauses import PauseDetector


def downmix(frame: rtc.AudioFrame) -> rtc.AudioFrame:
    """A multi-channel PCM s16le frame averaged to mono (the channels' mean, truncated to s16);
    a mono frame is returned as is."""
    if frame.num_channels == 1:
        return frame
    pcm = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
    mono = pcm.mean(axis=1).astype(np.int16)
    return rtc.AudioFrame(mono.tobytes(), frame.sample_rate, 1, frame.samples_per_channel)


def pad_tail(pcm: bytes, min_samples: int) -> tuple[bytes, int]:
    """``pcm`` padded with silence to at least ``min_samples`` samples (s16le mono).

    Returns:
        The padded bytes and the number of samples of padding added (0 when none).
    """
    short = min_samples - len(pcm) // 2
    if short <= 0:
        return pcm, 0
    return pcm + bytes(2 * short), short


@attrs.define(slots=True)
class Chunk:
    """One chunk of audio as sent to a provider.

    Attributes:
        data: PCM s16le mono at the provider's rate.
        start: Stream-clock seconds of its first sample.
        end: Stream-clock seconds after its last sample.
        sent_at: ``time.monotonic()`` when it was complete (its last sample pushed).
        speech: Louder than the silence threshold (:class:`PauseDetector`).
    """

    data: bytes
    start: float
    end: float
    sent_at: float
    speech: bool = False


class Chunker:
    """Cuts the resampled input into the provider's chunks on the stream clock.

    Args:
        rate: Sample rate of the input and of the chunks, Hz.
        chunk_samples: Samples per chunk.
        pauses: The stream's pause detector, fed every chunk.
        on_boundary: Called with each pause boundary (stream-clock seconds) as it is found,
            before the chunk that completed it is returned.
    """

    __slots__ = ("_bytes", "_on_boundary", "_pauses", "chunk_samples", "position", "rate")

    def __init__(
        self, rate: int, chunk_samples: int, pauses: PauseDetector, on_boundary: Callable[[float], None]
    ) -> None:
        self.rate = rate
        self.chunk_samples = chunk_samples
        self._pauses = pauses
        self._on_boundary = on_boundary
        self._bytes = utils.audio.AudioByteStream(rate, 1, samples_per_channel=chunk_samples)
        self.position = 0.0
        """Seconds of audio chunked so far (stream clock)."""

    def push(self, pcm: bytes | memoryview) -> list[Chunk]:
        """The chunks that ``pcm`` (PCM s16le mono) completes, in order."""
        return [self._chunk(f) for f in self._bytes.push(pcm)]

    def flush(self) -> list[Chunk]:
        """The partial chunk held back, if any (a flush or the end of input), then a boundary."""
        chunks = [self._chunk(f) for f in self._bytes.flush()]
        if (at := self._pauses.boundary(self.position)) is not None:
            self._on_boundary(at)
        return chunks

    def resize(self, chunk_samples: int) -> list[Chunk]:
        """Cut chunks of ``chunk_samples`` from now on (a chain's next member frames audio
        otherwise); the partial chunk held so far is returned as a chunk of its own."""
        if chunk_samples == self.chunk_samples:
            return []
        chunks = [self._chunk(f) for f in self._bytes.flush()]
        self.chunk_samples = chunk_samples
        self._bytes = utils.audio.AudioByteStream(self.rate, 1, samples_per_channel=chunk_samples)
        return chunks

    def _chunk(self, frame: rtc.AudioFrame) -> Chunk:
        start = self.position
        self.position += frame.samples_per_channel / self.rate
        data = bytes(frame.data)
        speech, boundary = self._pauses.feed(data, start, self.position)
        if boundary is not None:
            self._on_boundary(boundary)
        return Chunk(data, start, self.position, time.monotonic(), speech)
