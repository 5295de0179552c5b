"""The pause rule: where runs of speech end, decided once for every user.

The stream core confirms replay audio for finals without times by it (the n-th such final
covers audio up to the n-th pause boundary), :class:`speechkit.audio.SpeechSegments` finds
speech runs in an input with it, and the CLI's cue clock for untimed finals
(:class:`speechkit.output.UntimedClock`) places cues on those runs. One class, one
arithmetic: the three agree on every boundary for the same audio in the same windows.
"""

from __future__ import annotations

import math

import numpy as np

PAUSE_SECONDS = 0.3
"""Silence that makes a pause boundary, seconds."""

SILENCE_RMS = 0.01 * 32768
"""Window RMS (s16 units, -40 dBFS) below which a window always counts as silence."""

SILENCE_RELATIVE = 0.1
"""A window under this fraction of the loudest window's RMS so far (-20 dB) is silence too,
so background noise in real recordings does not hide pauses."""


def rms(pcm: bytes) -> float:
    """Root mean square of PCM s16le mono samples, in s16 units (0 for no samples).

    One float64 dot product: no temporaries beyond the converted samples.
    """
    samples = np.frombuffer(pcm, dtype=np.int16, count=len(pcm) // 2).astype(np.float64)
    return math.sqrt(float(samples @ samples) / samples.size) if samples.size else 0.0


class PauseDetector:
    """Finds pause boundaries in consecutive windows of PCM s16le mono audio.

    A window is silent when its RMS is below ``SILENCE_RMS``, or below ``SILENCE_RELATIVE``
    of the loudest window so far. ``pause`` seconds of silence after speech make a boundary
    where the silence began; a forced :meth:`boundary` (a flush, the end of input) makes one
    where the audio ends.

    Args:
        pause: Seconds of silence that end a run of speech.
    """

    __slots__ = ("_end", "_pause", "_peak", "_run_start", "_runs", "_silence_start")

    def __init__(self, pause: float = PAUSE_SECONDS) -> None:
        self._pause = pause
        self._peak = 0.0
        self._run_start: float | None = None  # first speech window of the open run
        self._silence_start: float | None = None
        self._end = 0.0
        self._runs: list[tuple[float, float]] = []

    def feed(self, pcm: bytes, start: float, end: float) -> tuple[bool, float | None]:
        """Add the next window, ``start``–``end`` seconds on the caller's clock.

        Returns:
            Whether the window is speech, and the boundary (seconds) this window completed,
            or None.
        """
        level = rms(pcm)
        self._peak = max(self._peak, level)
        self._end = end
        if level >= max(SILENCE_RMS, SILENCE_RELATIVE * self._peak):
            if self._run_start is None:
                self._run_start = start
            self._silence_start = None
            return True, None
        if self._silence_start is None:
            self._silence_start = start
        if self._run_start is not None and end - self._silence_start >= self._pause - 1e-6:
            return False, self._close(self._silence_start)
        return False, None

    def boundary(self, at: float) -> float | None:
        """End the open run at ``at`` (a flush or the end of input); the boundary, or None
        when no speech came since the last one."""
        if self._run_start is None:
            return None
        return self._close(at)

    def _close(self, at: float) -> float:
        assert self._run_start is not None
        self._runs.append((self._run_start, at))
        self._run_start = None
        return at

    @property
    def runs(self) -> list[tuple[float, float]]:
        """``(start, end)`` seconds of each run of speech so far; the last may still be open
        (it ends where its silence began, or at the end of the audio fed)."""
        if self._run_start is None:
            return list(self._runs)
        end = self._silence_start if self._silence_start is not None else self._end
        return [*self._runs, (self._run_start, end)]
