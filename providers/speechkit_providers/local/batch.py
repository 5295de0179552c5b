"""Whole-recording recognition for the ``local`` provider (streams with ``realtime=False``).

A recording wants the best the model can do, the same every time; latency hardly matters.
So the audio is buffered and, at each flush and at the end of input, decoded with
faster-whisper's own ``WhisperModel.transcribe()``: Silero VAD segments batched into the
model's 30 s context, previous-text conditioning, beam 5 with its temperature fallback —
the reference the streaming path is measured against, not a re-implementation of it.

The text is ``transcribe()``'s without word timestamps: with ``word_timestamps=True``
faster-whisper moves each window's seek to the last aligned word, which changes what the
next window decodes (on tiny.en, 44 s of reading in 10 dB pink noise: WER 2.5 % without, 5.9 %
with). Word times come from a second pass (:mod:`.align`): faster-whisper's own
cross-attention alignment of each decode window's segments, so the text is exactly
``transcribe()``'s and jsonl/srt/the stream clock keep their words. Each segment becomes one
final on the stream clock once its decode window is aligned.

Determinism: every decode runs on one dedicated single-replica model, one at a time, with
CTranslate2's RNG seeded at load, so even a segment that falls back to sampling
(temperature > 0) decodes the same in every process that transcribes the same recordings
in the same order. The RNG is CTranslate2's per-thread generator, seeded once when the
replica's thread first samples (``set_random_seed`` later does not reset it): a sampled
window's text depends on the draws the recordings before it used, so within one process a
recording decoded after others may differ from its first decode there (such windows are
logged at DEBUG; e.g. the last second of allison_long at 48 kHz: a hallucinated "Press 7. To
increase your volume." on the first decode, skipped as no speech on the next).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from speechkit.events import Finished, SpeechEnded, SpeechStarted, Transcript, Word

from .align import SegmentAligner
from .models import SharedModel
from .pcm import SAMPLE_RATE, whole_samples

_LOG = logging.getLogger("speechkit.local")
_Event = Transcript | SpeechStarted | SpeechEnded | Finished


class FileRecognizer:
    """One recording: push audio, then iterate over provider events.

    The same interface as :class:`~.recognizer.StreamingRecognizer`; events come after a
    :meth:`flush` (the audio so far is one piece) or :meth:`end_input`.
    """

    def __init__(self, model: SharedModel, *, language: str = "en", beam_size: int = 5) -> None:
        """Create a session (cheap; the model for recordings loads at the first decode).

        Args:
            model: The shared model.
            language: Language code (the primary subtag is used: "en-US" -> "en").
            beam_size: Beam size of faster-whisper's decoding.

        Raises:
            ValueError: For a language the model cannot transcribe.
        """
        self._model = model
        self._language = language.split("-")[0].split("_")[0].lower()
        model.tokenizer(self._language)  # raises for a language the weights cannot do
        self._beam_size = beam_size
        self._pieces: asyncio.Queue[bytes | None] = asyncio.Queue()  # None: input ended or closed
        self._piece: list[bytes] = []
        self._carry = b""
        self._offset = 0  # session samples before the current piece
        self._ended = False
        self._closed = False

    def push(self, pcm: bytes) -> None:
        """Buffer audio.

        Args:
            pcm: s16le mono 16 kHz bytes, any length.
        """
        if self._ended or self._closed or not pcm:
            return
        samples, self._carry = whole_samples(self._carry, pcm)
        if samples:
            self._piece.append(samples)

    def flush(self) -> None:
        """Decode the audio pushed since the last flush as one piece."""
        if not (self._ended or self._closed):
            self._pieces.put_nowait(b"".join(self._piece))
            self._piece = []

    def end_input(self) -> None:
        """No more audio: decode the rest, then emit ``Finished``."""
        if not (self._ended or self._closed):
            self.flush()
            self._ended = True
            self._pieces.put_nowait(None)

    async def events(self) -> AsyncIterator[_Event]:
        """Yield SpeechStarted, final Transcript, SpeechEnded per segment, then Finished.

        Raises:
            Exception: Whatever faster-whisper raised.
        """
        while not self._closed:
            piece = await self._pieces.get()
            if piece is None:
                if not self._closed:
                    yield Finished()
                return
            async for event in self._decode(piece):
                yield event

    async def aclose(self) -> None:
        """Stop: a decode running in its thread stops after its current segment."""
        self._closed = True
        self._pieces.put_nowait(None)

    async def _decode(self, pcm: bytes) -> AsyncIterator[_Event]:
        offset = self._offset / SAMPLE_RATE
        self._offset += len(pcm) // 2
        if len(pcm) < 2 * 160:  # under 10 ms: nothing Whisper could decode
            return
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        loop = asyncio.get_running_loop()
        segments: asyncio.Queue[Any] = asyncio.Queue()

        def work() -> None:
            whisper = self._model.file_whisper()
            try:
                found, _info = whisper.transcribe(
                    audio,
                    language=self._language,
                    beam_size=self._beam_size,
                    vad_filter=True,
                    word_timestamps=False,  # see the module docs: words come from the aligner
                )
                aligner = SegmentAligner(whisper, self._language, audio)
                for segment in found:  # decoded lazily, one 30 s window at a time
                    if segment.temperature > 0:  # sampled: its text follows the RNG's draws
                        _LOG.debug(
                            "file mode: segment at %.2f s decoded at temperature %.1f",
                            segment.start,
                            segment.temperature,
                            extra={"sampled_at": float(segment.start)},
                        )
                    for done_segment in aligner.add(segment):
                        loop.call_soon_threadsafe(segments.put_nowait, done_segment)
                    if self._closed:
                        break
                else:
                    for done_segment in aligner.finish():
                        loop.call_soon_threadsafe(segments.put_nowait, done_segment)
            except BaseException as e:  # handed to the stream, which reports it
                loop.call_soon_threadsafe(segments.put_nowait, e)
            loop.call_soon_threadsafe(segments.put_nowait, None)

        done = loop.run_in_executor(self._model.file_executor, work)
        try:
            while (segment := await segments.get()) is not None:
                if isinstance(segment, BaseException):
                    raise segment
                event = self._final(segment, offset)
                if event is not None:
                    yield SpeechStarted(event.start_time)
                    yield event
                    yield SpeechEnded(event.end_time)
        finally:
            await asyncio.shield(done)

    def _final(self, segment: Any, offset: float) -> Transcript | None:
        text = str(segment.text).strip()
        if not text:
            return None
        words = tuple(
            Word(w.text, offset + w.start_time, offset + w.end_time, w.confidence) for w in segment.words
        )
        start = offset + float(segment.start)
        end = offset + float(segment.end)
        if words:  # the transcript spans its words
            start, end = min(start, words[0].start_time), max(end, words[-1].end_time)
        return Transcript(
            text=text,
            is_final=True,
            start_time=start,
            end_time=end,
            confidence=float(np.mean([w.confidence or 0.0 for w in words])) if words else 0.0,
            words=words,
            language=self._language,
            end_of_utterance=True,
        )
