"""The local benchmark's own arithmetic: the issue-10 targets, boundary diagnostics, and the
reference's audio path (no speech data needed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from livekit import rtc


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "bench_local.py"
    spec = importlib.util.spec_from_file_location("bench_local", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_local"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


def row(
    base: str,
    condition: str,
    file: float,
    stream: float,
    ref: float,
    kind: str = "read",
    same_text: bool = False,
) -> dict[str, Any]:
    return {
        "base": base,
        "condition": condition,
        "kind": kind,
        "wer_file": file,
        "wer_stream": stream,
        "wer_ref": ref,
        "same_text": same_text,
    }


def test_a_word_cut_across_two_finals_is_reported_as_a_split() -> None:
    issues = bench.boundary_issues(
        ["it was the age of foolish", "ness it was"], "the age of foolishness it was"
    )
    assert issues == ["split: 'foolish' | 'ness'"]


def test_words_that_end_one_final_and_start_the_next_are_reported_as_a_repeat() -> None:
    issues = bench.boundary_issues(["by hanging up or", "or by pressing"], "by hanging up or by pressing")
    assert issues == ["repeat: 'or' ends one final and starts the next"]


def test_file_mode_passes_within_1_1_times_the_reference_plus_half_a_point() -> None:
    rows = [row("a", "orig", 0.0104, 0.0, 0.005), row("b", "orig", 0.0106, 0.0, 0.005)]
    bench.targets(rows)
    assert [r["pass_file"] for r in rows] == [True, False]


def test_file_mode_with_transcribe_s_very_text_passes_whatever_the_wer() -> None:
    rows = [row("a", "orig", 0.3, 0.0, 0.1, same_text=True), row("b", "orig", 0.3, 0.0, 0.1)]
    bench.targets(rows)
    assert [r["pass_file"] for r in rows] == [True, False]


def test_streaming_target_judges_read_speech_only() -> None:
    rows = [row("a", "orig", 0.1, 0.2, 0.1), row("b", "orig", 0.1, 0.2, 0.1, kind="prompt")]
    bench.targets(rows)
    assert [r["pass_stream"] for r in rows] == [False, None]


def test_streaming_is_held_to_1_5_times_file_mode_short_sentences_included() -> None:
    rows = [
        row("a", "orig", 0.10, 0.15, 0.0),  # 1.5 x file mode: in, whatever the reference
        row("b", "orig", 0.10, 0.16, 0.5),
        row("jfk", "orig", 0.04, 0.05, 0.04, kind="speech"),
    ]
    bench.targets(rows)
    assert [r["pass_stream"] for r in rows] == [True, False, True]


def test_telephone_target_compares_with_the_16_khz_copy_of_the_same_clip() -> None:
    rows = [
        row("a", "orig", 0.05, 0.05, 0.0),
        row("a", "mulaw8k", 0.07, 0.05, 0.0),
        row("b", "orig", 0.0, 0.0, 0.0),
        row("b", "mulaw8k", 0.03, 0.0, 0.0),
    ]
    bench.targets(rows)
    assert [r["pass_telephone"] for r in rows] == [None, True, None, False]


def test_reference_audio_is_16_khz_mono_whatever_the_input() -> None:
    t = np.arange(48000) / 48000
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    frames = [
        rtc.AudioFrame(stereo[i : i + 1920].tobytes(), 48000, 2, 960) for i in range(0, len(stereo), 1920)
    ]
    audio = bench.to_16k(frames)
    assert audio.dtype == np.float32 and abs(len(audio) - 16000) <= 160


def test_whisper_normaliser_makes_spelt_and_written_numbers_equal() -> None:
    pytest.importorskip("whisper_normalizer")
    norm = bench.whisper_normaliser()
    assert norm is not None and norm("Go forward ten meters.") == norm("go forward 10 meters")


def test_words_doubled_in_the_reference_are_not_a_repeat() -> None:
    assert bench.boundary_issues(["that that", "that is"], "that that that is") == []


def test_written_and_spelt_digit_strings_compare_equal() -> None:
    pytest.importorskip("whisper_normalizer")
    norm = bench.whisper_normaliser()
    assert norm is not None and norm("five five") == norm("5 5")


def test_a_word_emitted_as_two_inside_one_final_is_reported() -> None:
    issues = bench.boundary_issues(["some of its noisy est authorities"], "some of its noisiest authorities")
    assert issues == ["split in a final: 'noisy' 'est'"]
