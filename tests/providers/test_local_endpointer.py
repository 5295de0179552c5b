"""The local engine's endpointer: utterance boundaries from per-window speech probabilities.

Pure and cheap, so it runs here on made-up probabilities (no model, no VAD): speech at or
above 0.5, silence below 0.35, and in between neither (hysteresis). Positions are samples.
"""

from __future__ import annotations

import math
import random
from typing import Literal

from speechkit_providers.local.endpointer import Endpointer, Kind, VadEvent
from speechkit_providers.local.pcm import SAMPLE_RATE
from speechkit_providers.local.vad import VAD_WINDOW

W = VAD_WINDOW
SPEECH, SILENCE, UNSURE = 0.9, 0.1, 0.4
MIN_SILENCE = int(0.5 * SAMPLE_RATE)  # endpointing=0.5 s, the provider's default
MAX_UTTERANCE = int(3.0 * SAMPLE_RATE)


def endpointer() -> Endpointer:
    return Endpointer(MIN_SILENCE, MAX_UTTERANCE)


def onset(sample: int) -> VadEvent:
    return VadEvent(Kind.ONSET, sample)


def end(sample: int, split: Literal["pause", "hard"] | None = None) -> VadEvent:
    return VadEvent(Kind.END, sample, split=split)


def windows_for(samples: int) -> int:
    """Whole windows it takes to cover ``samples``."""
    return math.ceil(samples / W)


def test_speech_opens_an_utterance_where_its_first_window_starts() -> None:
    ep = endpointer()
    assert ep.feed([SILENCE] * 3 + [SPEECH], first_sample=10 * W) == [onset(13 * W)]
    assert ep.in_speech


def test_an_utterance_ends_after_endpointing_seconds_of_silence_at_where_the_silence_began() -> None:
    ep = endpointer()
    need = windows_for(MIN_SILENCE)
    assert ep.feed([SPEECH] * 10 + [SILENCE] * (need - 1), first_sample=0) == [onset(0)]
    assert ep.in_speech  # a pause shorter than endpointing does not end it
    assert ep.feed([SILENCE], first_sample=(10 + need - 1) * W) == [end(10 * W)]
    assert not ep.in_speech


def test_a_silence_of_exactly_endpointing_ends_the_utterance() -> None:
    ep = Endpointer(16 * W, MAX_UTTERANCE)
    assert ep.feed([SPEECH] + [SILENCE] * 15, first_sample=0) == [onset(0)]
    assert ep.feed([SILENCE], first_sample=16 * W) == [end(W)]


def test_speech_within_the_silence_starts_the_count_again() -> None:
    ep = endpointer()
    short = windows_for(MIN_SILENCE) - 1
    probs = [SPEECH] * 5 + [SILENCE] * short + [SPEECH] + [SILENCE] * short
    assert ep.feed(probs, first_sample=0) == [onset(0)]
    assert ep.in_speech


def test_probabilities_between_the_thresholds_neither_open_nor_end_an_utterance() -> None:
    ep = endpointer()
    assert ep.feed([UNSURE] * 50, first_sample=0) == []
    assert ep.feed([SPEECH] + [UNSURE] * 50, first_sample=50 * W) == [onset(50 * W)]
    assert ep.in_speech  # 1.6 s of "unsure" is not silence
    ended = ep.feed([SILENCE] * windows_for(MIN_SILENCE), first_sample=101 * W)
    assert ended == [end(101 * W)]  # the silence began at the first window below 0.35


def test_max_utterance_splits_run_on_speech_at_the_window_that_reaches_it() -> None:
    ep = endpointer()
    k = windows_for(MAX_UTTERANCE)
    events = ep.feed([SPEECH] * (2 * k), first_sample=0)
    assert events == [onset(0), end(k * W, "hard"), onset(k * W), end(2 * k * W, "hard"), onset(2 * k * W)]


def test_a_split_goes_to_the_middle_of_a_short_pause_in_the_second_half() -> None:
    ep = endpointer()
    k = windows_for(MAX_UTTERANCE)
    before = windows_for(MAX_UTTERANCE // 2) + 10
    pause = windows_for(int(0.1 * SAMPLE_RATE))  # 0.1 s of silence makes a split point
    probs = [SPEECH] * before + [SILENCE] * pause + [SPEECH] * (k - before - pause)
    split = before * W + int(0.05 * SAMPLE_RATE)
    assert ep.feed(probs, first_sample=0) == [onset(0), end(split, "pause"), onset(split)]
    assert ep.in_speech and ep.start == split  # the next utterance counts from the split


def test_after_a_split_inside_a_pause_the_silence_is_counted_afresh() -> None:
    ep = endpointer()
    k = windows_for(MAX_UTTERANCE)  # the split comes at window k - 1, 5 windows into the pause
    probs = [SPEECH] * (k - 5) + [SILENCE] * (4 + windows_for(MIN_SILENCE))
    split = (k - 5) * W + int(0.05 * SAMPLE_RATE)
    assert ep.feed(probs, first_sample=0) == [onset(0), end(split, "pause"), onset(split)]
    assert ep.feed([SILENCE], first_sample=(k + 15) * W) == [end(k * W)]  # not back at the pause


def test_a_pause_in_the_first_half_is_not_a_split_point() -> None:
    ep = endpointer()
    k = windows_for(MAX_UTTERANCE)
    pause = windows_for(int(0.1 * SAMPLE_RATE))
    probs = [SPEECH] * 10 + [SILENCE] * pause + [SPEECH] * (k - 10 - pause)
    assert ep.feed(probs, first_sample=0) == [onset(0), end(k * W, "hard"), onset(k * W)]


def test_end_now_closes_an_utterance_where_its_speech_stopped() -> None:
    ep = endpointer()
    assert ep.end_now(5 * W) is None  # not in speech
    ep.feed([SPEECH] * 4, first_sample=0)
    assert ep.end_now(4 * W) == 4 * W and not ep.in_speech
    ep.feed([SPEECH] * 4 + [SILENCE] * 3, first_sample=4 * W)
    assert ep.end_now(11 * W) == 8 * W  # in a pause: at the start of the pause
    assert ep.end_now(11 * W) is None


def test_the_boundaries_do_not_depend_on_how_the_windows_are_batched() -> None:
    rnd = random.Random(7)
    probs: list[float] = []
    while len(probs) < 4000:  # runs of speech, pauses and silences of every length
        value = rnd.choice([SPEECH, SILENCE, UNSURE, rnd.random()])
        probs += [value] * rnd.randint(1, 60)
    whole = endpointer().feed(probs, first_sample=0)
    assert {e.split for e in whole} >= {None, "hard", "pause"}  # every kind of end is in it
    ep, batched, pos = endpointer(), [], 0
    while pos < len(probs):
        n = rnd.randint(1, 40)
        batched += ep.feed(probs[pos : pos + n], first_sample=pos * W)
        pos += n
    assert batched == whole
