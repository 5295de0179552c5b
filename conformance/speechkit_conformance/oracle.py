"""A deterministic oracle recognizer: synthetic tone words that survive resampling and μ-law.

Every word of :data:`VOCABULARY` is two consecutive tones of :data:`TONE_S` seconds: first
a *low* tone from :data:`LOW_HZ`, then a *high* tone from :data:`HIGH_HZ` (5 x 5 = 25 words).
Words are separated by :data:`GAP_S` of silence, utterances by :data:`PAUSE_S`. All tones
lie between 400 and 2800 Hz, under the 4 kHz Nyquist limit of 8 kHz telephony audio, so
the words survive resampling between 8, 16, 44.1 and 48 kHz and 8-bit μ-law.

:class:`OracleRecognizer` reads PCM s16le at the session rate in 20 ms frames, takes each
frame's dominant frequency with an FFT, and maps it to the nearest tone. A run of
non-silent frames is a word only if it is exactly *(low tone, high tone)*; anything else
(a word cut by lost audio, two half-words glued together) is dropped. So lost, duplicated
or reordered audio shows up as lost, duplicated or reordered words, never as a crash.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from speechkit.events import SpeechEnded, Transcript, Word

from .recognizers import SyncEvent, SyncRecognizer

LOW_HZ: tuple[float, ...] = (400.0, 600.0, 800.0, 1000.0, 1200.0)
"""First-tone frequencies, Hz."""
HIGH_HZ: tuple[float, ...] = (1600.0, 1900.0, 2200.0, 2500.0, 2800.0)
"""Second-tone frequencies, Hz."""
VOCABULARY: tuple[str, ...] = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee",
)  # fmt: skip
"""The 25 words; word ``i`` is ``(LOW_HZ[i // 5], HIGH_HZ[i % 5])``."""

TONE_S = 0.08
"""Duration of one tone, seconds."""
GAP_S = 0.08
"""Silence between two words of an utterance, seconds."""
PAUSE_S = 0.5
"""Silence after each utterance, seconds (longer than :data:`UTTERANCE_END_S`)."""
LEAD_S = 0.1
"""Silence before the first utterance, seconds."""
UTTERANCE_END_S = 0.3
"""Silence after which the recognizer finalises an utterance, seconds."""
FRAME_S = 0.02
"""Analysis frame, seconds (50 Hz FFT bins: tones are 200+ Hz apart)."""
AMPLITUDE = 0.3
"""Tone peak as a fraction of full scale."""

_TONES = LOW_HZ + HIGH_HZ
_TONES_HZ = np.array(_TONES)
_WORDS = {(i // 5, 5 + i % 5): w for i, w in enumerate(VOCABULARY)}
_SILENCE_RMS = 0.02 * 32768  # well above μ-law/resampler noise, well below the tones
_TOLERANCE_HZ = 80.0
_MIN_RUN = 2  # frames a tone must last to count (transition frames are mixed)
_SILENT = -2  # a frame's tone: silence (-1: sound, but no tone)
_MEMO_SIZE = 4096  # frames remembered per sample rate (at 48 kHz, 4096 x 1920 bytes)
_MEMO: dict[int, dict[bytes, int]] = {}
"""Sample rate -> frame bytes -> tone, shared by every recognizer: oracle audio repeats (25 words,
each a whole number of frames, and silence), so across sessions most frames were seen before."""

_I16 = npt.NDArray[np.int16]


def word_tones(word: str) -> tuple[float, float]:
    """The (low, high) tone frequencies of ``word`` in Hz.

    Raises:
        KeyError: ``word`` is not in :data:`VOCABULARY`.
    """
    i = VOCABULARY.index(word) if word in VOCABULARY else -1
    if i < 0:
        raise KeyError(f"{word!r} is not an oracle word; words: {', '.join(VOCABULARY)}")
    return LOW_HZ[i // 5], HIGH_HZ[i % 5]


def _tone(freq: float, rate: int) -> npt.NDArray[np.float64]:
    n = round(TONE_S * rate)
    t = np.arange(n) / rate
    fade = min(n // 2, round(0.005 * rate))  # 5 ms raised-cosine edges limit splatter
    env = np.ones(n)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    env[:fade], env[n - fade :] = ramp, ramp[::-1]
    return np.sin(2 * np.pi * freq * t) * env


def synthesize(utterances: Sequence[Sequence[str]], sample_rate: int, *, lead: float = LEAD_S) -> _I16:
    """Synthesize utterances of oracle words as PCM.

    Args:
        utterances: Words per utterance, each from :data:`VOCABULARY`.
        sample_rate: Output rate, Hz.
        lead: Silence before the first word, seconds.

    Returns:
        Mono int16 samples: ``lead`` silence, then per utterance its words separated by
        :data:`GAP_S` and followed by :data:`PAUSE_S` of silence.
    """
    parts = [np.zeros(round(lead * sample_rate))]
    gap = np.zeros(round(GAP_S * sample_rate))
    for utterance in utterances:
        for i, word in enumerate(utterance):
            if i:
                parts.append(gap)
            low, high = word_tones(word)
            parts += [_tone(low, sample_rate), _tone(high, sample_rate)]
        parts.append(np.zeros(round(PAUSE_S * sample_rate)))
    return (np.concatenate(parts) * AMPLITUDE * 32767).astype(np.int16)


class OracleRecognizer(SyncRecognizer):
    """Streaming recognizer of oracle words; times are seconds from its first sample. A
    :class:`~speechkit_conformance.recognizers.Recognizer` (``push``/``flush``/``events``), or
    synchronous through ``feed``/``finalize``.

    Args:
        sample_rate: Rate of the PCM s16le mono fed in, Hz.
        interim_results: Emit an interim after each recognised word.
        end_of_speech: Seconds of silence after words at which the utterance is finalised (if it
            has not been yet) and a :class:`~speechkit.events.SpeechEnded` follows (at the audio
            position); None: no ``SpeechEnded``.

    ``feed`` returns :class:`speechkit.events.Transcript` s: an interim (all words of the
    utterance so far, with their timings) after each word, and one final with word timings once
    :data:`UTTERANCE_END_S` of silence follows the utterance (or on :meth:`finalize`).
    """

    def __init__(
        self, sample_rate: int, *, interim_results: bool = True, end_of_speech: float | None = None
    ) -> None:
        super().__init__(sample_rate)
        self.interim_results = interim_results
        self.end_of_speech = end_of_speech or None
        self._heard = False  # words since the last SpeechEnded
        self._frame = round(FRAME_S * sample_rate)
        self._window = np.hanning(self._frame)
        self._memo = _MEMO.setdefault(sample_rate, {})
        self._pending = b""  # PCM bytes short of a frame
        self._frames = 0  # frames analysed
        self._run: list[int] = []  # tone index per frame of the current non-silent run (-1: no tone)
        self._run_start = 0
        self._silent = 0  # silent frames since the last sound
        self._words: list[Word] = []

    @property
    def position(self) -> float:
        """Seconds of audio analysed."""
        return self._frames * FRAME_S

    def feed(self, pcm: bytes) -> list[SyncEvent]:
        """Analyse more PCM s16le (any length; a partial frame or odd byte carries over)."""
        data = self._pending + pcm if self._pending else bytes(pcm)
        size = 2 * self._frame
        n = len(data) // size
        self._pending = data[n * size :]
        out: list[SyncEvent] = []
        if not n:
            return out
        frames = [data[i * size : (i + 1) * size] for i in range(n)]
        memo = self._memo
        tones = [memo.get(frame, None) for frame in frames]
        if None in tones:  # analyse the frames not seen before, in one batch
            new = [i for i, tone in enumerate(tones) if tone is None]
            pcm16 = np.frombuffer(b"".join(frames[i] for i in new), dtype="<i2")
            if len(memo) + len(new) > _MEMO_SIZE:
                memo.clear()
            for i, tone in zip(new, self._tones(pcm16.astype(np.float64).reshape(len(new), -1)), strict=True):
                tones[i] = memo[frames[i]] = tone
        for tone in tones:
            self._analyse(tone, out)  # type: ignore[arg-type]
        return out

    def _tones(self, frames: npt.NDArray[np.float64]) -> list[int]:
        """Per frame (a row): its tone index, -1 for sound that is no tone, :data:`_SILENT`; all
        frames of a feed at once (a frame at a time cost ten numpy calls, 50 times a second)."""
        # np.mean's own arithmetic (a sum, then a division) without its wrapper
        loud = np.sqrt(np.add.reduce(frames * frames, axis=1) / self._frame) >= _SILENCE_RMS
        if not loud.any():
            return [_SILENT] * len(frames)
        tones = np.full(len(frames), _SILENT)
        spectrum = np.abs(np.fft.rfft(frames[loud] * self._window, axis=1))
        peak = (spectrum[:, 1:].argmax(axis=1) + 1) * self.sample_rate / self._frame
        off = np.abs(peak[:, None] - _TONES_HZ)
        tones[loud] = np.where(off.min(axis=1) <= _TOLERANCE_HZ, off.argmin(axis=1), -1)
        return tones.tolist()  # type: ignore[no-any-return]

    def finalize(self) -> list[SyncEvent]:
        """End the current word and utterance now; returns its final (if it has words)."""
        out: list[SyncEvent] = []
        self._end_run(out)
        if self._words:
            words, self._words = tuple(self._words), []
            text = " ".join(w.text for w in words)
            out.append(
                Transcript(
                    text, True, words[0].start_time, words[-1].end_time, 1.0, words, end_of_utterance=True
                )
            )
        return out

    def flush(self, marker: object = None) -> None:
        super().flush(marker)
        self._heard = False  # a flush ends the speech: no SpeechEnded for it

    def _analyse(self, tone: int, out: list[SyncEvent]) -> None:
        """One frame, by its tone (see :meth:`_tones`)."""
        self._frames += 1
        if tone == _SILENT:
            self._end_run(out)
            self._silent += 1
            silence = self._silent * FRAME_S
            if self._words and silence >= min(UTTERANCE_END_S, self.end_of_speech or UTTERANCE_END_S):
                out += self.finalize()
            if self.end_of_speech and self._heard and silence >= self.end_of_speech - 1e-9:
                self._heard = False
                out.append(SpeechEnded(self.position))
            return
        if not self._run:
            self._run_start = self._frames - 1
        self._silent = 0
        self._run.append(tone)

    def _end_run(self, out: list[SyncEvent]) -> None:
        if not self._run:
            return
        run, self._run = self._run, []
        tones: list[int] = []  # the run's tones, each lasting >= _MIN_RUN frames, in order
        i = 0
        while i < len(run):
            j = i
            while j < len(run) and run[j] == run[i]:
                j += 1
            if j - i >= _MIN_RUN and run[i] >= 0 and (not tones or tones[-1] != run[i]):
                tones.append(run[i])
            i = j
        word = _WORDS.get((tones[0], tones[1])) if len(tones) == 2 else None
        if word is None:
            return  # not exactly (low, high): a damaged word is lost, not guessed
        start = self._run_start * FRAME_S
        self._heard = True
        self._words.append(Word(word, start, start + len(run) * FRAME_S, 1.0))
        if self.interim_results:
            text = " ".join(w.text for w in self._words)
            words = tuple(self._words)
            out.append(Transcript(text, False, words[0].start_time, words[-1].end_time, 0.0, words))


def recognize(pcm: _I16 | bytes, sample_rate: int) -> list[list[str]]:
    """Words per utterance in a whole recording (a convenience for tests).

    Args:
        pcm: int16 samples or PCM s16le bytes.
        sample_rate: Their rate, Hz.

    Returns:
        The words of each final, in order.
    """
    rec = OracleRecognizer(sample_rate, interim_results=False)
    data = pcm if isinstance(pcm, bytes) else pcm.astype("<i2").tobytes()
    finals = [*rec.feed(data), *rec.finalize()]
    return [[w.text for w in f.words] for f in finals if isinstance(f, Transcript) and f.is_final]
