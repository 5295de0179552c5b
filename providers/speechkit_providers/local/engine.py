"""Offline streaming recognition engine of the ``local`` provider.

Audio (s16le mono 16 kHz) is pushed from the asyncio loop; one driver task per
stream runs Silero VAD incrementally (stateful, 512-sample windows) for
endpointing and decodes with a shared faster-whisper/CTranslate2 model in worker
threads, so the event loop never blocks.

Streaming policy:

* Finals depend on the audio alone, never on timing: the same frames give the same
  finals whether pushed at once, paced or with stalls, whatever the machine's load.
  Utterances are cut by VAD only (Silero's probabilities do not depend on how the audio
  is batched); each final is one beam-search decode of the whole utterance window, and
  a split forced by ``max_utterance`` is moved back to a word boundary by the word
  timestamps (never mid-word) and the next utterance resumes there (no audio twice).
* Interims are best-effort: at most one decode in flight per stream, run only
  when the stream is caught up with its input, always on the newest audio
  (so a file fed faster than real time does not multiply the work).
* LocalAgreement-2 (as in whisper_streaming) steadies interims: words that two
  consecutive decodes agree on are kept. Once an interim window is long, it is cut
  after the last agreed word with that text as the prompt, which bounds the cost of
  each interim decode in run-on speech. Finals never read this state.
* The encoder only sees the window plus a short silence pad instead of the
  full 30 s Whisper chunk (CTranslate2 accepts shorter inputs), which makes
  decodes of short windows 3-4x cheaper.
* When a pause starts, the final's decode is started speculatively on exactly the
  window it will have; if the pause becomes an endpoint its result is the final, so
  finals arrive about ``min_silence`` after the end of speech.

All times are seconds from the first sample pushed into the session.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Final, Literal

import attrs
import numpy as np

from speechkit.events import Finished, SpeechEnded, SpeechStarted, Transcript, Word

from .decoder import decode_window, unsqueezed_length
from .endpointer import Endpointer, Kind
from .models import SharedModel
from .pcm import F32, SAMPLE_RATE, whole_samples
from .vad import VAD_WINDOW, VadState, vad_executor

_LOG = logging.getLogger("speechkit.local")

_PRE_PAD: Final = int(0.3 * SAMPLE_RATE)
"""Audio decoded before the VAD onset, samples (Silero fires a little late)."""
_END_PAD: Final = int(0.2 * SAMPLE_RATE)
"""Audio decoded after the VAD end of speech, samples (catches trailing consonants)."""
_SPECULATE_AFTER: Final = int(0.2 * SAMPLE_RATE)
"""Silence after which a speculative final decode starts, samples."""
_FIRST_INTERIM_AFTER: Final = int(0.5 * SAMPLE_RATE)
"""Speech before the first interim decode, samples."""
_EMPTY_RETRY_AFTER: Final = int(0.3 * SAMPLE_RATE)
"""Extra audio before retrying an interim that decoded to nothing, samples."""
_CUT_WINDOW_AFTER: Final = int(8.0 * SAMPLE_RATE)
"""Decode window length beyond which it is cut after committed words, samples."""
_MIN_KEPT_WINDOW: Final = int(1.0 * SAMPLE_RATE)
"""Never cut the window to less than this before the newest audio, samples."""
_BEHIND_BACKLOG: Final = int(0.3 * SAMPLE_RATE)
"""Undrained input beyond which the stream counts as behind, samples."""
_BEHIND_RATE: Final = 1.5
"""Arrival rate (x real time) beyond which the stream counts as fed from a file."""
_PROMPT_WORDS: Final = 40
"""Words of the previous finals passed as the next final's prompt (previous-text conditioning)."""
_CONTINUE_AFTER: Final = 1.0
"""Seconds of a long final window left after its last decoded word that are decoded again."""


class _Marker(enum.Enum):
    FLUSH = enum.auto()
    END = enum.auto()


_CLOSED: Final = object()
_WORD_RE = re.compile(r"[^\w']+")


def _norm(word: Word) -> str:
    return _WORD_RE.sub("", word.text.lower())


def _join(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


def _shift(words: Sequence[Word], offset: float) -> list[Word]:
    return [attrs.evolve(w, start_time=w.start_time + offset, end_time=w.end_time + offset) for w in words]


def _after_committed(hyp: Sequence[Word], committed: Sequence[Word]) -> list[Word]:
    """Drop the part of ``hyp`` that repeats the committed words (by time, then by n-gram)."""
    if not committed:
        return list(hyp)
    last_end = committed[-1].end_time
    out = [w for w in hyp if w.start_time > last_end - 0.1]
    # A word straddling the window cut may come back: drop the longest
    # 1-5 word overlap between the committed tail and the new head.
    for n in range(min(5, len(committed), len(out)), 0, -1):
        if [_norm(w) for w in committed[-n:]] == [_norm(w) for w in out[:n]]:
            return out[n:]
    return out


class StreamingRecognizer:
    """One recognition session: push audio, iterate over provider events.

    Example::

        rec = StreamingRecognizer(SharedModel.get(resolve_model_path("tiny.en")))
        rec.push(pcm)            # s16le mono 16 kHz, from the event loop
        rec.end_input()
        async for event in rec.events():
            ...
    """

    SAMPLE_RATE = SAMPLE_RATE

    def __init__(
        self,
        model: SharedModel,
        *,
        language: str = "en",
        interim_results: bool = True,
        interim_interval: float = 1.0,
        min_silence: float = 0.5,
        max_utterance: float = 20.0,
    ) -> None:
        """Create a session (cheap; work starts on the first push).

        Args:
            model: The shared model.
            language: Language code (BCP-47 primary subtag is used: "en-US" -> "en").
            interim_results: Emit interim transcripts while speaking.
            interim_interval: Audio between interim decodes, seconds.
            min_silence: Silence that ends an utterance, seconds.
            max_utterance: Longest utterance before a final is forced, seconds (<= 28).

        Raises:
            ValueError: For a language the model cannot transcribe, or bad timings.
        """
        if interim_interval <= 0 or min_silence <= 0 or not 1.0 <= max_utterance <= 28.0:
            raise ValueError("interim_interval and min_silence must be > 0 s and max_utterance within 1-28 s")
        self._model = model
        self._language = language.split("-")[0].split("_")[0].lower()
        self._tokenizer = model.tokenizer(self._language)
        self._interim_results = interim_results
        self._interim_interval = int(interim_interval * SAMPLE_RATE)
        self._min_silence = int(min_silence * SAMPLE_RATE)

        self._inbox: list[bytes | _Marker] = []
        self._carry = b""
        self._pushed = 0
        self._arrivals: collections.deque[tuple[float, int]] = collections.deque()
        self._input_ended = False
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[object] | None = None

        # Session audio kept for decoding: _audio[0] is session sample _audio_start.
        self._audio: F32 = np.zeros(0, dtype=np.float32)
        self._audio_start = 0
        self._vad_pos = 0
        self._vad = VadState()
        self._endpointer = Endpointer(self._min_silence, int(max_utterance * SAMPLE_RATE))
        self._last_end = 0

        # Current utterance.
        self._utt_start = 0
        self._win_start = 0
        self._committed: list[Word] = []
        self._n_before_window = 0
        self._prev_hyp: list[Word] = []
        self._next_interim = 0
        self._last_interim_text = ""
        self._final_start = 0
        self._history: list[Word] = []  # the last finals' words: the next final's prompt
        self._prefinal: tuple[tuple[int, int, str], tuple[Word, ...]] | None = None

    # ----------------------------------------------------------------- input

    def push(self, pcm: bytes) -> None:
        """Queue audio; never blocks.

        Args:
            pcm: s16le mono 16 kHz bytes, any length.
        """
        if self._closed or self._input_ended or not pcm:
            return
        samples, self._carry = whole_samples(self._carry, pcm)
        if not samples:
            return
        self._inbox.append(samples)
        self._pushed += len(samples) // 2
        now = time.monotonic()
        self._arrivals.append((now, self._pushed))
        while len(self._arrivals) > 2 and now - self._arrivals[1][0] > 2.0:
            self._arrivals.popleft()
        self._poke()

    def flush(self) -> None:
        """Finalize the current utterance at the current input position."""
        if not (self._closed or self._input_ended):
            self._inbox.append(_Marker.FLUSH)
            self._poke()

    def end_input(self) -> None:
        """No more audio: finalize everything, then emit ``Finished``."""
        if not (self._closed or self._input_ended):
            self._input_ended = True
            self._inbox.append(_Marker.END)
            self._poke()

    async def events(self) -> AsyncIterator[Transcript | SpeechStarted | SpeechEnded | Finished]:
        """Yield provider events in order; ends after ``Finished`` (or on close).

        Yields:
            SpeechStarted, interim/final Transcript, SpeechEnded, ..., Finished.

        Raises:
            Exception: Whatever broke the recognition driver.
        """
        queue = self._ensure_started()
        while True:
            item = await queue.get()
            if item is _CLOSED:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, (Transcript, SpeechStarted, SpeechEnded, Finished))
            yield item
            if isinstance(item, Finished):
                return

    def __aiter__(self) -> AsyncIterator[Transcript | SpeechStarted | SpeechEnded | Finished]:
        return self.events()

    async def aclose(self) -> None:
        """Stop now: a decode running in a thread may finish, its result is dropped."""
        if self._closed:
            return
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=0.1)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception:  # already reported through events()
                pass
        if self._events is not None:
            self._events.put_nowait(_CLOSED)

    # ---------------------------------------------------------------- driver

    def _ensure_started(self) -> asyncio.Queue[object]:
        if self._events is None:
            self._events = asyncio.Queue()
            self._wake = asyncio.Event()
            if self._inbox:
                self._wake.set()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="speechkit-local-recognizer"
            )
            if self._closed:
                self._events.put_nowait(_CLOSED)
        return self._events

    def _poke(self) -> None:
        self._ensure_started()
        assert self._wake is not None
        self._wake.set()

    def _emit(self, event: object) -> None:
        assert self._events is not None
        self._events.put_nowait(event)

    async def _run(self) -> None:
        try:
            await self._drive()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _LOG.exception("local STT stream failed")
            self._emit(exc)

    async def _drive(self) -> None:
        assert self._wake is not None
        while True:
            if not self._inbox:
                await self._decode_ahead()
            if not self._inbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            items, self._inbox = self._inbox, []
            pending: list[bytes] = []
            for item in items:
                if isinstance(item, bytes):
                    pending.append(item)
                    continue
                self._append(pending)
                pending = []
                await self._run_vad()
                if item is _Marker.FLUSH:
                    await self._end_utterance(self._endpointer.end_now(self._buffer_end()))
                    continue
                await self._end_utterance(self._endpointer.end_now(self._buffer_end()))
                self._emit(Finished())
                return
            self._append(pending)
            await self._run_vad()

    def _append(self, chunks: list[bytes]) -> None:
        if not chunks:
            return
        pcm = np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float32) / 32768.0
        keep_from = self._final_start if self._endpointer.in_speech else self._vad_pos - _PRE_PAD
        keep_from = max(self._audio_start, min(keep_from, self._vad_pos - _PRE_PAD))
        drop = keep_from - self._audio_start
        # Trim lazily (>= 5 s) so the copy is amortised.
        if drop >= 5 * SAMPLE_RATE:
            self._audio = self._audio[drop:]
            self._audio_start = keep_from
        self._audio = np.concatenate([self._audio, pcm])

    def _buffer_end(self) -> int:
        return self._audio_start + len(self._audio)

    def _slice(self, start: int, end: int) -> F32:
        return self._audio[max(0, start - self._audio_start) : max(0, end - self._audio_start)]

    async def _run_vad(self) -> None:
        n = (self._buffer_end() - self._vad_pos) // VAD_WINDOW * VAD_WINDOW
        if n <= 0:
            return
        first = self._vad_pos
        chunk = self._slice(first, first + n)
        loop = asyncio.get_running_loop()
        probs = await loop.run_in_executor(vad_executor(), self._vad.run, self._model.vad_session, chunk)
        self._vad_pos = first + n
        resume_at: int | None = None
        for event in self._endpointer.feed(probs.tolist(), first):
            if event.kind is Kind.ONSET:
                # The endpointer keeps counting max_utterance from its own split point: it
                # decides on VAD alone, so its decisions never depend on how the audio was
                # batched or on what a decode found.
                self._start_utterance(event.sample if resume_at is None else resume_at)
                resume_at = None
            else:
                ended = await self._finalize(event.sample, split=event.split)
                # After a split the next utterance resumes where this final was cut back to.
                resume_at = ended if event.split is not None else None

    def _start_utterance(self, sample: int) -> None:
        self._utt_start = sample
        self._final_start = max(sample - _PRE_PAD, self._last_end, self._audio_start)
        self._win_start = self._final_start
        self._committed = []
        self._n_before_window = 0
        self._prev_hyp = []
        self._next_interim = sample + _FIRST_INTERIM_AFTER
        self._last_interim_text = ""
        self._prefinal = None
        self._emit(SpeechStarted(sample / SAMPLE_RATE))

    async def _end_utterance(self, speech_end: int | None) -> None:
        if speech_end is not None:
            await self._finalize(speech_end, audio_end=min(speech_end + _END_PAD, self._buffer_end()))

    def _final_audio_end(self, speech_end: int) -> int:
        """End of the audio a final decodes when speech ended at ``speech_end``: a fixed pad,
        never past the silence that ended the utterance, so the window is the same whenever
        the VAD got to see it."""
        return speech_end + min(_END_PAD, self._min_silence)

    async def _finalize(
        self, speech_end: int, *, split: Literal["pause", "hard"] | None = None, audio_end: int | None = None
    ) -> int:
        """Emit the final (if any words) and SpeechEnded for the current utterance.

        The final is one decode of the whole utterance, ``[_final_start, audio_end)``, with
        the previous finals' words as the prompt (as faster-whisper conditions on previous
        text: a short sentence decoded alone loses its context). It depends on the audio
        alone, never on which interim decodes ran (they depend on timing), so the same
        input gives the same finals.

        Args:
            speech_end: End of speech (or the split point), samples.
            split: How ``max_utterance`` forced this end (see :class:`VadEvent`); the words
                kept are those the split does not cut, and the utterance ends between words.
            audio_end: End of the audio to decode; default :meth:`_final_audio_end`.

        Returns:
            Where the utterance actually ended, samples (the next one resumes there).
        """
        if audio_end is None:
            audio_end = speech_end if split == "hard" else self._final_audio_end(speech_end)
        words = await self._decode_final(self._final_start, audio_end)
        if split is not None:
            # Mid-speech the last second is unreliable; at a pause a word may still straddle it.
            limit = speech_end / SAMPLE_RATE - (1.0 if split == "hard" else -0.05)
            keep = [w for w in words if w.end_time <= limit]
            if len(keep) < len(words):
                following = words[len(keep)].start_time
                cut_s = (keep[-1].end_time + following) / 2 if keep else following
                speech_end = max(self._utt_start, min(speech_end, int(cut_s * SAMPLE_RATE)))
                words = keep
        start_s, end_s = self._utt_start / SAMPLE_RATE, speech_end / SAMPLE_RATE
        if words:
            self._emit(
                Transcript(
                    text=_join(words),
                    is_final=True,
                    start_time=min(start_s, words[0].start_time),
                    end_time=max(end_s, words[-1].end_time),
                    confidence=float(np.mean([w.confidence or 0.0 for w in words])),
                    words=tuple(words),
                    language=self._language,
                    end_of_utterance=True,
                )
            )
            self._history = [*self._history, *words][-_PROMPT_WORDS:]
        self._emit(SpeechEnded(end_s))
        self._last_end = speech_end
        self._prefinal = None
        return speech_end

    async def _decode_final(self, start: int, end: int) -> list[Word]:
        """Final-quality words of ``[start, end)`` on the session clock, in order.

        A decode that stops well before the end of a long window (Whisper may end a run-on
        window early) is continued from its last word, so no speech is left out.
        """
        words: list[Word] = []
        for _ in range(4):
            prompt = _join([*self._history, *words])
            if self._prefinal is not None and self._prefinal[0] == (start, end, prompt):
                window_words = self._prefinal[1]
            else:
                window_words = await self._decode(start, end, final=True, prompt=prompt)
            new = _shift(window_words, start / SAMPLE_RATE)
            real = unsqueezed_length(new)  # words squeezed at the very end: where the decoder gave up
            left = end / SAMPLE_RATE - new[real - 1].end_time if real else 0.0
            if end - start < _CUT_WINDOW_AFTER or left < _CONTINUE_AFTER:
                words.extend(new)
                break
            words.extend(new[:real])
            start = int(new[real - 1].end_time * SAMPLE_RATE)
        return words

    async def _decode(self, start: int, end: int, *, final: bool, prompt: str) -> tuple[Word, ...]:
        audio = self._slice(start, end)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self._model.executor,
            functools.partial(
                decode_window,
                self._model.whisper,
                audio,
                tokenizer=self._tokenizer,
                prompt=prompt,
                final=final,
            ),
        )
        _LOG.debug(
            "decoded %.2f s (%s) in %.3f s: %d words",
            len(audio) / SAMPLE_RATE,
            "final" if final else "interim",
            result.seconds,
            len(result.words),
        )
        return result.words

    def _behind(self) -> bool:
        """Whether input arrives faster than we keep up (then interims are skipped)."""
        backlog = sum(len(i) // 2 for i in self._inbox if isinstance(i, bytes))
        if backlog > _BEHIND_BACKLOG or self._input_ended:
            return True
        if len(self._arrivals) >= 2:
            (t0, s0), (t1, s1) = self._arrivals[0], self._arrivals[-1]
            if t1 - t0 >= 0.5 and (s1 - s0) / SAMPLE_RATE > _BEHIND_RATE * (t1 - t0):
                return True
        return False

    async def _decode_ahead(self) -> None:
        """Best-effort work while caught up: a speculative final or an interim."""
        ep = self._endpointer
        if not ep.in_speech or self._behind():
            return
        pos = self._vad_pos
        silence = ep.silence_start
        if silence is not None and self._min_silence > _SPECULATE_AFTER and pos - silence >= _SPECULATE_AFTER:
            # The final's own first decode, started early: the same window and prompt as
            # _decode_final's, so the result is only used when it is the one it would compute.
            start, end = self._final_start, self._final_audio_end(silence)
            key = (start, end, _join(self._history))
            if end <= pos and (self._prefinal is None or self._prefinal[0] != key):
                words = await self._decode(start, end, final=True, prompt=key[2])
                self._prefinal = (key, words)
                # Also a fresh hypothesis: use it for agreement and as an interim.
                self._on_hypothesis(words, start, end)
            return
        if self._interim_results and pos >= self._next_interim:
            before = _join(self._committed[: self._n_before_window])
            words = await self._decode(self._win_start, pos, final=False, prompt=before)
            self._on_hypothesis(words, self._win_start, pos)

    def _on_hypothesis(self, window_words: Sequence[Word], start: int, end: int) -> None:
        """LocalAgreement-2 on a new hypothesis of ``[start, end)``, then an interim.

        Interims only: finals never read what this commits (see :meth:`_finalize`).
        """
        if not self._endpointer.in_speech:
            return
        hyp = _after_committed(_shift(window_words, start / SAMPLE_RATE), self._committed)
        agreed = 0
        while agreed < min(len(hyp), len(self._prev_hyp)) and _norm(hyp[agreed]) == _norm(
            self._prev_hyp[agreed]
        ):
            agreed += 1
        self._committed.extend(hyp[:agreed])
        self._prev_hyp = hyp[agreed:]
        self._next_interim = end + (self._interim_interval if hyp or self._committed else _EMPTY_RETRY_AFTER)
        self._maybe_cut(end)
        words = self._committed + self._prev_hyp
        text = _join(words)
        if self._interim_results and text and text != self._last_interim_text:
            self._last_interim_text = text
            self._emit(
                Transcript(
                    text=text,
                    is_final=False,
                    start_time=self._utt_start / SAMPLE_RATE,
                    end_time=end / SAMPLE_RATE,
                    words=tuple(words),
                    language=self._language,
                )
            )

    def _maybe_cut(self, end: int) -> None:
        """Start the window after the last committed word once the window is long."""
        in_window = len(self._committed) - self._n_before_window
        if end - self._win_start < _CUT_WINDOW_AFTER or in_window <= 0:
            return
        last = self._committed[-1]
        cut_s = last.end_time
        if self._prev_hyp:
            cut_s = (last.end_time + self._prev_hyp[0].start_time) / 2
        cut = int(cut_s * SAMPLE_RATE)
        if cut <= self._win_start or cut > end - _MIN_KEPT_WINDOW:
            return
        self._win_start = cut
        self._n_before_window = len(self._committed)
