"""The oracle recognizer: tone words come back exactly, through resampling and μ-law, and
damaged audio loses words instead of inventing them."""

from __future__ import annotations

import numpy as np
import pytest
from livekit import rtc
from speechkit_conformance.oracle import (
    FRAME_S,
    GAP_S,
    LEAD_S,
    TONE_S,
    VOCABULARY,
    OracleRecognizer,
    recognize,
    synthesize,
)

from speechkit.codecs import mulaw_decode, mulaw_encode

UTTERANCES = [["alpha", "bravo", "yankee"], ["mike", "echo"], ["oscar", "oscar", "tango", "xray", "kilo"]]


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_round_trip_is_exact_at_each_rate(rate: int) -> None:
    assert recognize(synthesize(UTTERANCES, rate), rate) == UTTERANCES


def test_every_word_of_the_vocabulary_round_trips() -> None:
    utterances = [list(VOCABULARY[i : i + 5]) for i in range(0, len(VOCABULARY), 5)]
    assert recognize(synthesize(utterances, 8000), 8000) == utterances


def test_round_trip_survives_resampling_44100_to_16000() -> None:
    pcm = synthesize(UTTERANCES, 44100)
    resampler = rtc.AudioResampler(44100, 16000)
    out = bytearray()
    for i in range(0, len(pcm), 441):  # 10 ms frames, as a live source pushes them
        part = pcm[i : i + 441]
        for frame in resampler.push(rtc.AudioFrame(part.tobytes(), 44100, 1, len(part))):
            out += bytes(frame.data)
    for frame in resampler.flush():
        out += bytes(frame.data)
    assert recognize(bytes(out), 16000) == UTTERANCES


@pytest.mark.parametrize("rate", [8000, 16000])
def test_round_trip_survives_mulaw(rate: int) -> None:
    coded = mulaw_encode(synthesize(UTTERANCES, rate))
    assert len(coded) == len(synthesize(UTTERANCES, rate))  # one byte per sample
    assert recognize(mulaw_decode(coded), rate) == UTTERANCES


def test_mulaw_decode_inverts_encode_within_one_quantisation_step() -> None:
    x = np.arange(-32768, 32768, 7, dtype=np.int16)
    err = np.abs(mulaw_decode(mulaw_encode(x)).astype(np.int32) - x)
    assert np.all(err <= np.maximum(16, np.abs(x.astype(np.int32)) // 16))


def test_dropping_100_ms_mid_word_loses_that_word_only() -> None:
    rate = 16000
    pcm = synthesize([["alpha", "bravo", "charlie"]], rate)
    cut = round((LEAD_S + 2 * TONE_S + GAP_S + TONE_S / 2) * rate)  # middle of bravo's first tone
    damaged = np.concatenate([pcm[:cut], pcm[cut + round(0.1 * rate) :]])
    assert recognize(damaged, rate) == [["alpha", "charlie"]]


def test_duplicated_and_reordered_audio_shows_as_duplicated_and_reordered_words() -> None:
    rate = 16000
    a, b = synthesize([["golf"]], rate), synthesize([["hotel"]], rate)
    assert recognize(np.concatenate([b, a, a]), rate) == [["hotel"], ["golf"], ["golf"]]


def test_streaming_emits_an_interim_per_word_then_one_timed_final() -> None:
    rate = 16000
    rec = OracleRecognizer(rate)
    pcm = synthesize([["lima", "papa"]], rate).tobytes()
    events = [ev for i in range(0, len(pcm), 333) for ev in rec.feed(pcm[i : i + 333])]  # odd sizes
    assert [(e.text, e.is_final) for e in events] == [
        ("lima", False),
        ("lima papa", False),
        ("lima papa", True),
    ]
    final = events[-1]
    assert [w.text for w in final.words] == ["lima", "papa"] and final.end_of_utterance
    assert abs(final.words[0].start_time - LEAD_S) <= FRAME_S
    assert abs(final.words[1].start_time - (LEAD_S + 2 * TONE_S + GAP_S)) <= FRAME_S


def test_finalize_closes_an_utterance_without_trailing_silence() -> None:
    rate = 8000
    pcm = synthesize([["romeo"]], rate)[: round((LEAD_S + 2 * TONE_S) * rate)]
    rec = OracleRecognizer(rate, interim_results=False)
    assert rec.feed(pcm.tobytes()) == []
    assert [e.text for e in rec.finalize()] == ["romeo"]
