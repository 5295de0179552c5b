"""Endpointing of the ``local`` engine: where utterances start and end.

:class:`Endpointer` decides on Silero's per-window speech probabilities alone (hysteresis
between two thresholds), never on timing or on what a decode found, so the same audio is
cut the same way however it was batched. An utterance ends at a silence of ``min_silence``;
one longer than ``max_utterance`` is split at its latest short pause in the second half,
else mid-speech. Positions are samples on the session clock.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final, Literal

import attrs

from .pcm import SAMPLE_RATE
from .vad import VAD_WINDOW

_VAD_THRESHOLD: Final = 0.5
"""Speech probability at or above which a window is speech."""
_VAD_NEG_THRESHOLD: Final = 0.35
"""Probability below which a window is silence (hysteresis between the two)."""
_PAUSE_FOR_SPLIT: Final = int(0.1 * SAMPLE_RATE)
"""Silence run that makes a split point for a forced final, samples."""


class Kind(enum.Enum):
    """What a :class:`VadEvent` marks."""

    ONSET = enum.auto()
    END = enum.auto()


@attrs.frozen
class VadEvent:
    """Endpointing decision.

    Attributes:
        kind: Onset or end of an utterance.
        sample: Where, samples on the session clock.
        split: None for an end at a silence of ``min_silence``; else how ``max_utterance``
            forced it: at a short pause (``"pause"``) or mid-speech (``"hard"``). A split's
            final is cut back to a word boundary by the word timestamps, and the next
            utterance resumes there.
    """

    kind: Kind
    sample: int
    split: Literal["pause", "hard"] | None = None


class Endpointer:
    """Hysteresis endpointing on per-window speech probabilities (pure, cheap).

    Attributes:
        in_speech: Whether an utterance is open.
        start: Where the open utterance started, samples.
        silence_start: Where the silence that may end it started, samples (None while
            speech goes on).
        split_at: The middle of the latest short pause, where a forced split may go,
            samples (None before one).
    """

    def __init__(self, min_silence: int, max_utterance: int) -> None:
        """Start outside speech.

        Args:
            min_silence: Silence that ends an utterance, samples.
            max_utterance: Length after which an utterance is split, samples.
        """
        self.min_silence = min_silence
        self.max_utterance = max_utterance
        self.in_speech = False
        self.start = 0
        self.silence_start: int | None = None
        self.split_at: int | None = None

    def feed(self, probs: Sequence[float], first_sample: int) -> list[VadEvent]:
        """Advance over windows starting at ``first_sample``.

        Args:
            probs: Speech probability per 512-sample window.
            first_sample: Session sample of the first window.

        Returns:
            Onsets and ends, in order.
        """
        out: list[VadEvent] = []
        for i, prob in enumerate(probs):
            pos = first_sample + i * VAD_WINDOW
            if not self.in_speech:
                if prob >= _VAD_THRESHOLD:
                    self._begin(pos)
                    out.append(VadEvent(Kind.ONSET, pos))
                continue
            if prob >= _VAD_THRESHOLD:
                self.silence_start = None
            elif prob < _VAD_NEG_THRESHOLD and self.silence_start is None:
                self.silence_start = pos
            end = pos + VAD_WINDOW
            if self.silence_start is not None:
                silent = end - self.silence_start
                if silent >= _PAUSE_FOR_SPLIT:
                    self.split_at = self.silence_start + _PAUSE_FOR_SPLIT // 2
                if silent >= self.min_silence:
                    out.append(VadEvent(Kind.END, self.silence_start))
                    self.in_speech = False
                    self.silence_start = None
                    continue
            if end - self.start >= self.max_utterance:
                # Split at the latest pause in the second half, else right here.
                how: Literal["pause", "hard"] = "hard"
                split = end
                if self.split_at is not None and self.split_at > self.start + self.max_utterance // 2:
                    split, how = self.split_at, "pause"
                out.append(VadEvent(Kind.END, split, split=how))
                out.append(VadEvent(Kind.ONSET, split))
                self._begin(split)
                if self.silence_start is not None and self.silence_start < split:
                    self.silence_start = split
        return out

    def end_now(self, sample: int) -> int | None:
        """Close the utterance at ``sample`` (flush / end of input).

        Args:
            sample: Current position, samples.

        Returns:
            The end of speech, samples, or None when not in speech.
        """
        if not self.in_speech:
            return None
        end = self.silence_start if self.silence_start is not None else sample
        self.in_speech = False
        self.silence_start = None
        return end

    def _begin(self, pos: int) -> None:
        self.in_speech = True
        self.start = pos
        self.silence_start = None
        self.split_at = None
