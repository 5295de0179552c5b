"""One decode of a window of audio for the ``local`` engine's streaming recognizer.

:func:`decode_window` runs faster-whisper's model (CTranslate2) directly on a window with
word timestamps: greedy for interims, beam search for finals, with no sampling, so a final
depends on the audio alone. The encoder only sees the window plus a short silence pad
instead of the full 30 s Whisper chunk (CTranslate2 accepts shorter inputs), which makes
decodes of short windows 3-4x cheaper. Also here: the word-level clean-up of a decode
(words the aligner squeezed into no audio).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from typing import Any, Final

import attrs

from speechkit.events import Word

from .pcm import F32, SAMPLE_RATE

_ENCODER_PAD: Final = 200
"""Silence frames (10 ms each) appended to the window for the encoder."""
_MIN_ENCODER_FRAMES: Final = 1000
"""Shortest encoder input, frames."""
_MAX_FRAMES: Final = 3000
"""Whisper's encoder context, frames (30 s)."""
_MAX_DECODE_SAMPLES: Final = (_MAX_FRAMES - _ENCODER_PAD) * 160
"""Longest window that fits the encoder with its pad, samples (28 s)."""
_PROMPT_TOKENS: Final = 96
"""Committed-text tokens passed as the decoder prompt."""
_PREPEND_PUNCT: Final = "\"'“¿([{-"
_APPEND_PUNCT: Final = "\"'.。,，!！?？:：”)]}、"


@attrs.frozen
class Decoded:
    """One decode of a window.

    Attributes:
        words: Words with times in seconds from the start of the decoded audio.
        seconds: Wall time the decode took, seconds.
    """

    words: tuple[Word, ...]
    seconds: float


def decode_window(
    whisper: Any,
    audio: F32,
    *,
    tokenizer: Any,
    prompt: str,
    final: bool,
    prefix: str = "",
    prefix_seconds: float = 0.0,
) -> Decoded:
    """Transcribe one window with word timestamps (blocking: call in a worker thread).

    Args:
        whisper: The loaded ``faster_whisper.WhisperModel``
            (:attr:`.models.SharedModel.whisper`).
        audio: Float32 mono 16 kHz samples; only the first 28 s are decoded.
        tokenizer: From :meth:`.models.SharedModel.tokenizer`.
        prompt: Committed text before the window, for context ("" for none).
        final: Final quality (beam 5, the best of its 5 hypotheses that neither loops nor
            hits the length bound) instead of greedy.
        prefix: Text already final for the start of ``audio`` (its first ``prefix_seconds``):
            forced as the decoder's prefix, so the model hears that speech as context but
            only decodes what follows; its words are not returned.
        prefix_seconds: Audio at the start of ``audio`` that ``prefix`` covers, seconds; the
            words returned start no earlier.

    Returns:
        The words after the prefix, times in seconds from the start of ``audio``.
    """
    # faster-whisper is heavy: imported at the first decode, not with this module.
    from faster_whisper.transcribe import get_suppressed_tokens, merge_punctuations

    started = time.perf_counter()
    audio = audio[:_MAX_DECODE_SAMPLES]  # the recognizer continues a longer final window
    num_frames = len(audio) // 160
    if num_frames < 10:
        return Decoded((), time.perf_counter() - started)
    features = whisper.feature_extractor(
        audio, padding=160 * max(_ENCODER_PAD, _MIN_ENCODER_FRAMES - num_frames)
    )
    features = features[:, : max(num_frames + _ENCODER_PAD, _MIN_ENCODER_FRAMES)]
    encoder_output = whisper.encode(features)

    tokens_prompt: list[int] = []
    if prompt:
        tokens_prompt = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt)[-_PROMPT_TOKENS:]]
    tokens_prompt += [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    prefix_tokens: list[int] = tokenizer.encode(" " + prefix.strip()) if prefix.strip() else []
    tokens_prompt += prefix_tokens
    duration = len(audio) / SAMPLE_RATE
    # Bound generation: ~3 words/s of speech is ~5 tokens/s; a looping
    # hallucination must not cost more than the audio is worth.
    max_new = int(8 * max(duration - prefix_seconds, 0.0)) + 10
    max_length = min(whisper.max_length, len(tokens_prompt) + max_new)
    suppress = list(get_suppressed_tokens(tokenizer, [-1]))

    # Final quality is beam search whose 5 best hypotheses stand in for Whisper's sampled
    # temperature fallback: the first that is neither looping nor cut off by the length
    # bound wins. Sampling would make finals depend on CTranslate2's per-thread RNG, and
    # so on which worker ran the decode; beams depend on the audio alone.
    result = whisper.model.generate(
        encoder_output,
        [tokens_prompt],
        max_length=max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=suppress,
        beam_size=5 if final else 1,
        num_hypotheses=5 if final else 1,
    )[0]
    chosen: list[int] | None = None  # the best hypothesis unless a later one is not flawed
    for sequence, score in zip(result.sequences_ids, result.scores, strict=True):
        tokens = [t for t in sequence if t < tokenizer.eot]
        if prefix_tokens and tokens[: len(prefix_tokens)] == prefix_tokens:
            tokens = tokens[len(prefix_tokens) :]  # CTranslate2 returns the forced prefix too
        avg_logprob = score * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:
            tokens = []  # Whisper says silence and is unsure of the text: drop it
        text = tokenizer.decode(tokens).strip()
        flawed = _compression_ratio(text) > 2.4 or len(tokens) >= max_length - len(tokens_prompt)
        if not flawed:
            chosen = tokens
            break
        if chosen is None:
            chosen = tokens
    assert chosen is not None
    tokens = chosen
    if not tokens:
        return Decoded((), time.perf_counter() - started)

    alignment = whisper.find_alignment(tokenizer, [prefix_tokens + tokens], encoder_output, num_frames)[0]
    skip = len(prefix_tokens)  # the prefix's words: already final
    while skip > 0 and alignment:
        skip -= len(alignment.pop(0)["tokens"])
    merge_punctuations(alignment, _PREPEND_PUNCT, _APPEND_PUNCT)
    words: list[Word] = []
    floor = min(prefix_seconds, duration)
    for item in alignment:
        raw = str(item["word"])
        text = raw.strip()
        if not text:
            continue
        start = min(max(float(item["start"]), floor), duration)
        end = min(max(float(item["end"]), start), duration)
        if words and not raw[0].isspace():  # no space before it: the same word ("cold-hearted")
            last = words[-1]
            prob = min(last.confidence or 0.0, float(item["probability"]))
            words[-1] = Word(last.text + text, last.start_time, max(last.end_time, end), prob)
            continue
        words.append(Word(text, start, end, float(item["probability"])))
    return Decoded(drop_squeezed_tail(words), time.perf_counter() - started)


SQUEEZED_S = 0.05
"""A decoded word shorter than this (seconds) was aligned to no audio."""


def drop_squeezed_tail(words: Sequence[Word]) -> tuple[Word, ...]:
    """Drop a trailing run of two or more words the aligner squeezed into no audio.

    They are not in the audio: Whisper tiny.en sometimes repeats the window's phrase that
    way ("... fellow Americans. And so my fellow Americans." with the repeat at one instant).
    """
    real = unsqueezed_length(words)
    return tuple(words[:real] if len(words) - real >= 2 else words)


def unsqueezed_length(words: Sequence[Word]) -> int:
    """How many words remain once the trailing run of squeezed words (< SQUEEZED_S) is cut."""
    real = len(words)
    while real and words[real - 1].end_time - words[real - 1].start_time < SQUEEZED_S:
        real -= 1
    return real


def _compression_ratio(text: str) -> float:
    """Bytes over zlib-compressed bytes: high for looping hallucinations."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0
