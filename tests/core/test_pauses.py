"""The pause rule: one detector, the same boundaries for the stream, SpeechSegments and cues."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import RATE, frames

from speechkit.audio import SpeechSegments
from speechkit.stream.input import Chunker
from speechkit.stream.pauses import PAUSE_SECONDS, PauseDetector


def tone(seconds: float, level: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def silence(seconds: float, noise: int = 0, seed: int = 0) -> np.ndarray:
    if not noise:
        return np.zeros(int(seconds * RATE), np.int16)
    return np.random.default_rng(seed).integers(-noise, noise, int(seconds * RATE)).astype(np.int16)


def talk(noise: int = 0) -> np.ndarray:
    """Three runs of speech: pauses of 0.5 s (a boundary), 0.2 s (none), then 0.6 s."""
    return np.concatenate(
        [
            *(silence(0.2, noise), tone(0.8), silence(0.5, noise, 1), tone(0.6)),
            *(silence(0.2, noise, 2), tone(0.4), silence(0.6, noise, 3)),
        ]
    )


def stream_boundaries(samples: np.ndarray, frame: int) -> list[float]:
    """The boundaries the stream finds: its chunker (0.1 s chunks at 16 kHz), frames as pushed."""
    found: list[float] = []
    chunker = Chunker(RATE, int(0.1 * RATE), PauseDetector(), found.append)
    for f in frames(samples, size=frame):
        chunker.push(f.data)
    chunker.flush()
    return found


def test_a_pause_after_speech_makes_a_boundary_where_the_silence_began() -> None:
    assert stream_boundaries(talk(), 320) == pytest.approx([1.0, 2.7])


def test_a_pause_shorter_than_the_rule_is_no_boundary() -> None:
    boundaries = stream_boundaries(talk(), 320)
    assert not any(2.05 < b < 2.35 for b in boundaries)  # the 0.2 s pause at 2.1 s
    assert PAUSE_SECONDS > 0.2


@pytest.mark.parametrize("noise", [0, 200])
@pytest.mark.parametrize("frame", [160, 320, 1111, 4800])
def test_speech_segments_end_at_the_streams_boundaries(noise: int, frame: int) -> None:
    samples = talk(noise)
    runs = SpeechSegments(window=0.1)
    for f in frames(samples, size=frame):
        runs.feed(f)
    ends = [end for _, end in runs.segments]
    assert ends[: len(ends) - 1] == stream_boundaries(samples, frame)[: len(ends) - 1]
    assert [round(s, 6) for s, _ in runs.segments] == [0.2, 1.5]


def test_stereo_is_judged_as_its_mono_down_mix() -> None:
    mono, stereo = SpeechSegments(), SpeechSegments()
    for f in frames(talk(), size=480):
        mono.feed(f)
    for f in frames(talk(), size=480, channels=2):
        stereo.feed(f)
    assert stereo.segments == mono.segments


def test_background_noise_under_a_tenth_of_the_speech_level_is_silence() -> None:
    # noise at -32 dBFS is above the absolute floor (-40 dBFS) but 20 dB under the speech
    assert stream_boundaries(talk(noise=800), 320) == pytest.approx([1.0, 2.7])


def test_a_flush_is_a_boundary_only_after_speech() -> None:
    detector = PauseDetector()
    assert detector.boundary(0.5) is None  # nothing said yet
    detector.feed(tone(0.1).tobytes(), 0.5, 0.6)
    assert detector.boundary(0.6) == 0.6
    assert detector.boundary(0.7) is None  # nothing said since
