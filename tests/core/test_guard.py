"""The event guard: a transcript before any audio is dropped, times outside the audio clamped onto
it, a final that goes back in time moved after the last one; each fault warned once."""

from __future__ import annotations

import logging

import pytest

from speechkit.events import SpeechEnded, Transcript, Word
from speechkit.stream.guard import EventGuard

AUDIO = {"sent": 2.0, "floor": 1.0, "ceiling": 3.0}  # a connection from 1.0 s to 3.0 s of the stream


def guard() -> EventGuard:
    return EventGuard(lambda: "acme", "s1")


def final(start: float, end: float, text: str = "a b") -> Transcript:
    mid = (start + end) / 2
    words = (Word("a", start, mid), Word("b", mid, end))
    return Transcript(text, True, start, end, words=words, end_of_utterance=True)


def times(ev: object) -> list[float]:
    assert isinstance(ev, Transcript) and ev.start_time is not None and ev.end_time is not None
    return [ev.start_time, ev.end_time, *(t for w in ev.words for t in (w.start_time, w.end_time))]


def test_a_transcript_on_a_connection_sent_no_audio_is_dropped_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g = guard()
    before = {**AUDIO, "sent": 0.0}
    assert g.check(final(1.0, 1.5), **before) is None
    assert g.check(Transcript("a", False), **before) is None
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "acme" in record.getMessage() and record.stream_id == "s1"


def test_an_empty_transcript_or_an_event_without_text_before_audio_passes() -> None:
    g, before = guard(), {**AUDIO, "sent": 0.0}
    empty = Transcript("", True, end_of_utterance=True)
    assert g.check(empty, **before) is empty


def test_times_in_the_audio_pass_unchanged_as_the_same_object() -> None:
    ev = final(1.2, 1.8)
    assert guard().check(ev, **AUDIO) is ev


def test_an_untimed_final_passes_unchanged() -> None:
    ev = Transcript("a b", True, end_of_utterance=True)
    assert guard().check(ev, **AUDIO) is ev


def test_negative_times_are_clamped_to_the_connections_first_audio(caplog: pytest.LogCaptureFixture) -> None:
    out = guard().check(final(0.2, 1.4), **AUDIO)
    assert times(out) == [1.0, 1.4, 1.0, 1.0, 1.0, 1.4]
    assert "before the connection's first audio" in caplog.records[0].getMessage()


def test_times_past_the_audio_sent_are_clamped_to_its_end(caplog: pytest.LogCaptureFixture) -> None:
    out = guard().check(final(2.6, 3.6), **AUDIO)
    assert times(out) == [2.6, 3.0, 2.6, 3.0, 3.0, 3.0]
    assert "past the audio sent" in caplog.records[0].getMessage()


def test_a_final_earlier_than_the_last_is_shifted_to_start_at_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g = guard()
    g.check(final(1.4, 1.8), **AUDIO)
    out = g.check(final(1.1, 1.3), **AUDIO)
    assert times(out) == pytest.approx([1.8, 2.0, 1.8, 1.9, 1.9, 2.0])
    assert "earlier than the last final" in caplog.records[0].getMessage()


def test_a_final_that_starts_before_the_last_ended_but_after_it_started_is_left_alone() -> None:
    g = guard()
    g.check(final(1.2, 1.6), **AUDIO)
    straddling = final(1.5, 2.0)  # a word cut at a replay's seam starts before the last final's end
    assert g.check(straddling, **AUDIO) is straddling


def test_interims_are_clamped_but_never_shifted_by_the_finals() -> None:
    g = guard()
    g.check(final(1.4, 1.8), **AUDIO)
    interim = Transcript("a", False, 1.1, 1.3)
    assert g.check(interim, **AUDIO) is interim


def test_each_fault_is_warned_once_per_stream(caplog: pytest.LogCaptureFixture) -> None:
    g = guard()
    for _ in range(100):  # a flood of interims with negative times
        g.check(Transcript("a", False, 0.0, 0.5), **AUDIO)
    assert len(caplog.records) == 1


def test_a_speech_marker_time_is_clamped_silently(caplog: pytest.LogCaptureFixture) -> None:
    out = guard().check(SpeechEnded(9.0), **AUDIO)
    assert out == SpeechEnded(3.0) and not caplog.records
