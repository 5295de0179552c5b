"""The recognition of one stream of the ``local`` engine: VAD, endpointing, finals, interims.

:class:`Transcriber` holds the session audio, runs Silero VAD on it (:mod:`.vad`), lets
the :mod:`.endpointer` cut utterances, and decodes windows (:mod:`.decoder`) with the
shared model (:mod:`.models`) in worker threads. :mod:`.recognizer` drives it.

Policy:

* Finals depend on the audio alone, never on timing: the same frames give the same
  finals whether pushed at once, paced or with stalls, whatever the machine's load.
  Utterances are cut by VAD only (Silero's probabilities do not depend on how the audio
  is batched); each final is one beam-search decode of the whole utterance window, and
  a split forced by ``max_utterance`` is moved back to a word boundary by the word
  timestamps (never mid-word) and the next utterance resumes there (no audio twice).
* Interims are best-effort, always decoded on the newest audio, when the driver has time
  (:meth:`Transcriber.decode_ahead`).
* LocalAgreement-2 (as in whisper_streaming) steadies interims: words that two
  consecutive decodes agree on are kept. Once an interim window is long, it is cut
  after the last agreed word with that text as the prompt, which bounds the cost of
  each interim decode in run-on speech. Finals never read this state.
* When a pause starts, the final's decode is started speculatively on exactly the
  window it will have; if the pause becomes an endpoint its result is the final, so
  finals arrive about ``min_silence`` after the end of speech.
* A final's prompt is the previous finals' text (as faster-whisper conditions on previous
  text), and a short final (under :data:`CONTEXT_IF_SHORTER`) also hears up to
  :data:`CONTEXT_SECONDS` of the previous finals' audio before its window, those finals'
  words forced as the decoder's prefix, so a short sentence is not decoded in a window of its
  own. Both depend on earlier finals and the audio alone.

Positions are samples, times seconds, both from the first sample pushed into the session.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Final, Literal

import attrs
import numpy as np

from speechkit.events import SpeechEnded, SpeechStarted, Transcript, Word

from .agreement import CUT_WINDOW_AFTER, LocalAgreement
from .decoder import decode_window, unsqueezed_length
from .endpointer import Endpointer, Kind
from .models import SharedModel
from .pcm import F32, SAMPLE_RATE
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
_PROMPT_WORDS: Final = 40
"""Words of the previous finals passed as the next final's prompt (previous-text conditioning)."""
_CONTINUE_AFTER: Final = 1.0
"""Seconds of a long final window left after its last decoded word that are decoded again."""
CONTEXT_SECONDS: float = 2.0
"""Audio of the previous finals decoded before a short final's window as context, seconds at
most (the words wholly inside it are forced as the decoder's prefix; 0: none).

Measured with streaming pushed unpaced (issue 21), corpus WER. Read speech, 40 files of the
speech set (kinds read and speech, allison_long left out), context for every window: none
4.30 %, 1 s 3.23 %, 2 s 3.23 %, 3 s 3.59 %, 4 s 3.68 %, 8 s 5.47 % (a long forced prefix makes
tiny.en end finals early and carry their rest into the next). On all 190 files, 2 s for every
window: 4.7 % -> 5.5 % (dialogue, turns_mix: 5.6 % -> 21.7 %, where the previous speaker's
audio as prefix makes tiny.en cut a final short or decode the prefix sentence again); 2 s for
windows under 3 s only (:data:`CONTEXT_IF_SHORTER`): 4.7 % -> 4.4 %, no kind of speech worse
(read 3.5 -> 2.5 %, jfk 11.8 -> 10.9 %, dialogue 5.6 -> 4.1 %, prompts 2.7 -> 2.5 %, commands
20.5 % both)."""
CONTEXT_IF_SHORTER: float = 3.0
"""Context only for an utterance window shorter than this, seconds (a short sentence decoded
alone is where tiny.en errs; a longer window carries its own context). On the 40 read files,
windows under 3 s only: 2 s 3.32 %, 4 s 3.59 %. Final latency p95 (bench_local real time, on a
machine busy with other work, the same minute for both): none 1.14 s at 1 stream, 2.45 s at
4; 2 s under 3 s 1.07 s and 2.32 s."""


def _join(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


def _shift(words: Sequence[Word], offset: float) -> list[Word]:
    return [attrs.evolve(w, start_time=w.start_time + offset, end_time=w.end_time + offset) for w in words]


class Transcriber:
    """The recognition of one stream: session audio in, provider events out (see module docs).

    Driven by :class:`.recognizer.StreamingRecognizer` from its one task: :meth:`append`
    and :meth:`run_vad` as audio arrives, :meth:`flush` at a flush or the end of input,
    :meth:`decode_ahead` while the stream is caught up.
    """

    def __init__(
        self,
        model: SharedModel,
        *,
        language: str,
        interim_results: bool,
        interim_interval: float,
        min_silence: float,
        max_utterance: float,
        emit: Callable[[object], None],
    ) -> None:
        """Set up an empty session (cheap).

        Args:
            model: The shared model.
            language: Language code (BCP-47 primary subtag is used: "en-US" -> "en").
            interim_results: Emit interim transcripts while speaking.
            interim_interval: Audio between interim decodes, seconds.
            min_silence: Silence that ends an utterance, seconds.
            max_utterance: Longest utterance before a final is forced, seconds.
            emit: Takes each event, in order.

        Raises:
            ValueError: For a language the model cannot transcribe.
        """
        self._model = model
        self._language = language.split("-")[0].split("_")[0].lower()
        self._tokenizer = model.tokenizer(self._language)
        self._interim_results = interim_results
        self._interim_interval = int(interim_interval * SAMPLE_RATE)
        self._min_silence = int(min_silence * SAMPLE_RATE)
        self._emit = emit

        # Session audio kept for decoding: _audio[0] is session sample _audio_start.
        self._audio: F32 = np.zeros(0, dtype=np.float32)
        self._audio_start = 0
        self._vad_pos = 0
        self._vad = VadState()
        self._endpointer = Endpointer(self._min_silence, int(max_utterance * SAMPLE_RATE))
        self._last_end = 0

        # Current utterance.
        self._utt_start = 0
        self._agreement = LocalAgreement()
        self._next_interim = 0
        self._last_interim_text = ""
        self._final_start = 0
        self._history: list[Word] = []  # the last finals' words: the next final's prompt
        self._prefinal: tuple[tuple[int, int, str], tuple[Word, ...]] | None = None

    def append(self, chunks: list[bytes]) -> None:
        """Add pushed audio (s16le whole samples) to the session audio, dropping what no decode needs."""
        if not chunks:
            return
        pcm = np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float32) / 32768.0
        keep_from = self._final_start if self._endpointer.in_speech else self._vad_pos - _PRE_PAD
        # A final's context reaches CONTEXT_SECONDS (and a little) before its window: keep it
        # with a second to spare, whatever the trim's timing (else finals follow the pacing).
        keep_from = min(keep_from, self._vad_pos - _PRE_PAD) - int((CONTEXT_SECONDS + 1.0) * SAMPLE_RATE)
        keep_from = max(self._audio_start, keep_from)
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

    async def run_vad(self) -> None:
        """Run the VAD over the new whole windows and act on the endpointer's decisions."""
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

    async def flush(self) -> None:
        """Finalize the open utterance, if any, at the end of the audio so far (flush / end of input)."""
        await self._end_utterance(self._endpointer.end_now(self._buffer_end()))

    def _start_utterance(self, sample: int) -> None:
        self._utt_start = sample
        self._final_start = max(sample - _PRE_PAD, self._last_end, self._audio_start)
        self._agreement = LocalAgreement(self._final_start)
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
            elif words:
                window_words = await self._decode(start, end, final=True, prompt=prompt)
            else:
                window_words = await self._decode_with_context(start, end)
            new = _shift(window_words, start / SAMPLE_RATE)
            real = unsqueezed_length(new)  # words squeezed at the very end: where the decoder gave up
            left = end / SAMPLE_RATE - new[real - 1].end_time if real else 0.0
            if end - start < CUT_WINDOW_AFTER or left < _CONTINUE_AFTER:
                words.extend(new)
                break
            words.extend(new[:real])
            start = int(new[real - 1].end_time * SAMPLE_RATE)
        return words

    async def _decode_with_context(self, start: int, end: int) -> tuple[Word, ...]:
        """A final's first decode of ``[start, end)``, after the previous finals' audio as
        context (:data:`CONTEXT_SECONDS`); words from ``start`` on, times from ``start``.

        The context is a function of the window and the previous finals alone, so a
        speculative decode of the same window is the same decode."""
        history = self._history
        ctx: list[Word] = []
        if CONTEXT_SECONDS > 0 and (end - start) / SAMPLE_RATE < CONTEXT_IF_SHORTER:
            lo = start / SAMPLE_RATE - CONTEXT_SECONDS
            for w in reversed(history):
                if w.start_time < lo or w.end_time > start / SAMPLE_RATE:
                    break
                ctx.insert(0, w)
        if not ctx:
            return await self._decode(start, end, final=True, prompt=_join(history))
        before = history[: len(history) - len(ctx)]
        ctx_start = int(max(ctx[0].start_time - 0.05, before[-1].end_time if before else 0.0) * SAMPLE_RATE)
        ctx_start = max(ctx_start, self._audio_start)
        words = await self._decode(
            ctx_start,
            end,
            final=True,
            prompt=_join(before),
            prefix=_join(ctx),
            prefix_samples=start - ctx_start,
        )
        return tuple(_shift(words, (ctx_start - start) / SAMPLE_RATE))

    async def _decode(
        self, start: int, end: int, *, final: bool, prompt: str, prefix: str = "", prefix_samples: int = 0
    ) -> tuple[Word, ...]:
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
                prefix=prefix,
                prefix_seconds=prefix_samples / SAMPLE_RATE,
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

    async def decode_ahead(self) -> None:
        """Best-effort work while caught up: a speculative final or an interim.

        Called by the driver only when the stream keeps up with its input.
        """
        ep = self._endpointer
        if not ep.in_speech:
            return
        pos = self._vad_pos
        silence = ep.silence_start
        if silence is not None and self._min_silence > _SPECULATE_AFTER and pos - silence >= _SPECULATE_AFTER:
            # The final's own first decode, started early: the same window and prompt as
            # _decode_final's, so the result is only used when it is the one it would compute.
            start, end = self._final_start, self._final_audio_end(silence)
            key = (start, end, _join(self._history))
            if end <= pos and (self._prefinal is None or self._prefinal[0] != key):
                words = await self._decode_with_context(start, end)
                self._prefinal = (key, words)
                # Also a fresh hypothesis: use it for agreement and as an interim.
                self._on_hypothesis(words, start, end)
            return
        if self._interim_results and pos >= self._next_interim:
            agreement = self._agreement
            before = _join(agreement.committed[: agreement.n_before_window])
            words = await self._decode(agreement.win_start, pos, final=False, prompt=before)
            self._on_hypothesis(words, agreement.win_start, pos)

    def _on_hypothesis(self, window_words: Sequence[Word], start: int, end: int) -> None:
        """LocalAgreement-2 on a new hypothesis of ``[start, end)``, then an interim.

        Interims only: finals never read what this commits (see :meth:`_finalize`).
        """
        if not self._endpointer.in_speech:
            return
        agreement = self._agreement
        hyp = agreement.add(_shift(window_words, start / SAMPLE_RATE))
        self._next_interim = end + (
            self._interim_interval if hyp or agreement.committed else _EMPTY_RETRY_AFTER
        )
        agreement.maybe_cut(end)
        words = agreement.committed + agreement.prev_hyp
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
