"""Word times for file mode's segments, aligned after the text is decoded.

File mode (:mod:`.batch`) takes its text from faster-whisper's ``transcribe()`` without word
timestamps, because asking for them changes how ``transcribe()`` seeks and so the text.
:class:`SegmentAligner` then gives each segment its words: the segments of one decode window
(the same ``Segment.seek``) are aligned together, as ``transcribe(word_timestamps=True)``
aligns a window, with faster-whisper's own ``WhisperModel.add_word_timestamps`` (the
cross-attention DTW alignment plus its clean-up of over-long words), against the encoder
output of the window's audio in the original recording (the segments' span plus a margin,
padded to Whisper's 30 s context). The text is never changed: only times are added.
"""

from __future__ import annotations

import math
from typing import Any, Final

import attrs

from speechkit.events import Word

from .pcm import F32, SAMPLE_RATE

_MARGIN: Final = 0.3
"""Audio aligned before a window's first segment and after its last, seconds."""
_MAX_SPAN: Final = 29.0
"""Longest audio aligned at once, seconds (Whisper's context is 30 s)."""
_FRAMES_PER_SECOND: Final = 100
_HOP: Final = SAMPLE_RATE // _FRAMES_PER_SECOND
_CONTEXT_FRAMES: Final = 3000
_PREPEND_PUNCT: Final = "\"'“¿([{-"  # faster-whisper's transcribe() defaults
_APPEND_PUNCT: Final = "\"'.。,，!！?？:：”)]}、"


@attrs.frozen
class AlignedSegment:
    """One decoded segment with its words.

    Attributes:
        text: The segment's text as ``transcribe()`` decoded it.
        start: Start, seconds from the start of the audio.
        end: End, seconds from the start of the audio.
        words: The words, seconds from the start of the audio.
    """

    text: str
    start: float
    end: float
    words: tuple[Word, ...]


class SegmentAligner:
    """Adds word times to ``transcribe()``'s segments, one decode window at a time.

    Blocking (alignment runs the encoder): use it in the thread that iterates the segments.

    Args:
        whisper: The ``faster_whisper.WhisperModel`` that decoded the segments.
        language: Language code of the decode.
        audio: The float32 16 kHz samples that were decoded (segment times refer to them).
    """

    def __init__(self, whisper: Any, language: str, audio: F32) -> None:
        from faster_whisper.tokenizer import Tokenizer  # heavy: imported with the first recording

        self._whisper = whisper
        self._tokenizer = Tokenizer(
            whisper.hf_tokenizer, bool(whisper.model.is_multilingual), task="transcribe", language=language
        )
        self._audio = audio
        self._duration = len(audio) / SAMPLE_RATE
        self._pending: list[Any] = []
        self._last_speech = 0.0  # faster-whisper's last_speech_timestamp
        self._last_word_end = 0.0

    def add(self, segment: Any) -> list[AlignedSegment]:
        """Take the next segment; returns the segments whose window is now complete, aligned.

        Args:
            segment: A ``faster_whisper.transcribe.Segment`` (``seek``, ``start``, ``end``,
                ``text``, ``tokens``).
        """
        done: list[AlignedSegment] = []
        if self._pending:
            first = self._pending[0]
            span = float(segment.end) - float(first.start) + 2 * _MARGIN
            if segment.seek != first.seek or span > _MAX_SPAN:
                done = self._align(self._pending)
                self._pending = []
        self._pending.append(segment)
        return done

    def finish(self) -> list[AlignedSegment]:
        """The remaining segments, aligned (after the last :meth:`add`)."""
        done, self._pending = self._align(self._pending), []
        return done

    def _align(self, group: list[Any]) -> list[AlignedSegment]:
        if not group:
            return []
        from faster_whisper.audio import pad_or_trim

        whisper = self._whisper
        # Not before the words already aligned: the margin would hand them to this window too.
        start = max(float(group[0].start) - _MARGIN, min(self._last_word_end, float(group[0].start)))
        first_frame = max(0, math.floor(start * _FRAMES_PER_SECOND))
        last_frame = math.ceil(min(float(group[-1].end) + _MARGIN, self._duration) * _FRAMES_PER_SECOND)
        last_frame = min(last_frame, first_frame + _CONTEXT_FRAMES)
        num_frames = last_frame - first_frame
        if num_frames < 2:
            end = self._duration
            return [
                AlignedSegment(str(s.text).strip(), min(float(s.start), end), min(float(s.end), end), ())
                for s in group
            ]
        chunk = self._audio[first_frame * _HOP : last_frame * _HOP]
        features = pad_or_trim(whisper.feature_extractor(chunk)[:, :num_frames], _CONTEXT_FRAMES)
        encoder_output = whisper.encode(features)
        subsegments = [
            {"seek": first_frame, "start": float(s.start), "end": float(s.end), "tokens": list(s.tokens)}
            for s in group
        ]
        self._last_speech = whisper.add_word_timestamps(
            [subsegments],
            self._tokenizer,
            encoder_output,
            num_frames,
            _PREPEND_PUNCT,
            _APPEND_PUNCT,
            last_speech_timestamp=self._last_speech,
        )
        out = []
        for segment, aligned in zip(group, subsegments, strict=True):
            seg_start = min(max(float(segment.start), 0.0), self._duration)
            seg_end = min(max(float(segment.end), seg_start), self._duration)
            words = []
            for w in aligned.get("words", ()):
                text = str(w["word"]).strip()
                if not text:
                    continue
                # In order on the recording's clock, within the audio.
                start = min(max(float(w["start"]), self._last_word_end), self._duration)
                end = min(max(float(w["end"]), start), self._duration)
                words.append(Word(text, start, end, float(w["probability"])))
                self._last_word_end = end
            out.append(AlignedSegment(str(segment.text).strip(), seg_start, seg_end, tuple(words)))
        return out
