"""De-duplication after a reconnect: each word once, cut by time or by the words repeated."""

from __future__ import annotations

from speechkit.events import SpeechEnded, SpeechStarted, Transcript, Word
from speechkit.stream.dedupe import Deduplicator


def timed(text: str, start: float, step: float = 0.5) -> Transcript:
    words = tuple(Word(w, start + i * step, start + (i + 1) * step) for i, w in enumerate(text.split()))
    return Transcript(text, True, words[0].start_time, words[-1].end_time, words=words)


def texts(events: list[object]) -> list[str]:
    return [e.text for e in events if isinstance(e, Transcript)]


def test_nothing_is_dropped_on_the_first_connection() -> None:
    d = Deduplicator()
    assert d.replay(None) == []
    assert texts(d.filter(timed("one two", 0.0))) == ["one two"]


def test_a_timed_repeat_wholly_before_the_last_final_is_dropped() -> None:
    d = Deduplicator()
    d.final(timed("one two", 0.0), received=1.0)  # ends at 1.0
    d.replay(since=0.5)
    assert d.filter(timed("one two", 0.0)) == []


def test_a_timed_result_straddling_the_cut_keeps_the_words_after_it() -> None:
    d = Deduplicator()
    d.final(timed("one two", 0.0), received=1.0)
    d.replay(since=0.5)
    (kept,) = d.filter(timed("two three four", 0.5))
    assert isinstance(kept, Transcript)
    assert kept.text == "three four" and kept.start_time == 1.0


def test_results_after_the_cut_pass_unchanged() -> None:
    d = Deduplicator()
    d.final(timed("one two", 0.0), received=1.0)
    d.replay(since=0.5)
    ev = timed("three", 1.0)
    assert d.filter(ev) == [ev]


def test_speech_markers_before_the_cut_are_dropped() -> None:
    d = Deduplicator()
    d.final(timed("one two", 0.0), received=1.0)
    d.replay(since=0.5)
    assert d.filter(SpeechStarted(0.2)) == []
    assert d.filter(SpeechEnded(1.5)) == [SpeechEnded(1.5)]


def test_an_untimed_replay_drops_the_words_it_repeats_of_finals_emitted_since_it_was_sent() -> None:
    d = Deduplicator()
    d.final(Transcript("it was the best of times", True), received=10.0)
    d.final(Transcript("it was the worst of times", True), received=12.0)
    d.replay(since=11.0)  # only the second final came after the replayed audio was sent
    out = d.filter(Transcript("it was the worst of times it was the age", True))
    assert texts(out) == ["it was the age"]


def test_a_final_received_before_the_replayed_audio_was_sent_is_not_a_repeat() -> None:
    d = Deduplicator()
    d.final(Transcript("hello there", True), received=10.0)
    d.replay(since=11.0)
    assert texts(d.filter(Transcript("hello there", True))) == ["hello there"]


def test_finals_held_by_an_unresolved_overlap_come_out_at_the_next_connection_or_the_end() -> None:
    d = Deduplicator()
    d.final(Transcript("one two three four five six", True), received=1.0)
    d.replay(since=0.0)
    assert d.filter(Transcript("five", True)) == []  # may be the start of a repeat: held
    assert texts(d.replay(since=None)) == ["five"]  # nothing lost
    d.final(Transcript("one two three four five six", True), received=2.0)
    d.replay(since=0.0)
    assert d.filter(Transcript("five", True)) == []
    assert texts(d.finish()) == ["five"]
