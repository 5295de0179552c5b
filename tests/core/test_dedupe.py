"""De-duplication after a reconnect: each word once, cut by time or by the words repeated."""

from __future__ import annotations

from speechkit.events import SpeechEnded, SpeechStarted, Transcript, Word
from speechkit.stream.dedupe import Deduplicator


def timed(text: str, start: float, step: float = 0.5) -> Transcript:
    words = tuple(Word(w, start + i * step, start + (i + 1) * step) for i, w in enumerate(text.split()))
    return Transcript(text, True, words[0].start_time, words[-1].end_time, words=words)


def all_speech(until: float) -> float:
    """The replayed audio is speech throughout (seconds before ``until``, from 0)."""
    return max(0.0, until)


def texts(events: list[object]) -> list[str]:
    return [e.text for e in events if isinstance(e, Transcript)]


def test_nothing_is_dropped_on_the_first_connection() -> None:
    d = Deduplicator()
    assert d.replay(None, all_speech) == []
    assert texts(d.filter(timed("one two", 0.0))) == ["one two"]


def test_a_timed_repeat_wholly_before_the_last_final_is_dropped() -> None:
    d = Deduplicator()
    d.final(timed("one two", 0.0), sent=1.0)  # ends at 1.0
    d.replay(0.5, all_speech)
    assert d.filter(timed("one two", 0.0)) == []


def test_a_timed_result_straddling_the_cut_keeps_the_words_after_it() -> None:
    d = Deduplicator()
    d.final(timed("one two", 0.0), sent=1.0)
    d.replay(0.5, all_speech)
    (kept,) = d.filter(timed("two three four", 0.5))
    assert isinstance(kept, Transcript)
    assert kept.text == "three four" and kept.start_time == 1.0


def test_results_after_the_cut_pass_unchanged() -> None:
    d = Deduplicator()
    d.final(timed("one two", 0.0), sent=1.0)
    d.replay(0.5, all_speech)
    ev = timed("three", 1.0)
    assert d.filter(ev) == [ev]


def test_speech_markers_before_the_cut_are_dropped() -> None:
    d = Deduplicator()
    d.final(timed("one two", 0.0), sent=1.0)
    d.replay(0.5, all_speech)
    assert d.filter(SpeechStarted(0.2)) == []
    assert d.filter(SpeechEnded(1.5)) == [SpeechEnded(1.5)]


def test_an_untimed_replay_drops_the_words_it_repeats_of_finals_emitted_since_it_was_sent() -> None:
    d = Deduplicator()
    d.final(Transcript("it was the best of times", True), sent=10.0)
    d.final(Transcript("it was the worst of times", True), sent=12.0)
    d.replay(11.0, all_speech)  # only the second final came after the replayed audio was cut
    out = d.filter(Transcript("it was the worst of times it was the age", True))
    assert texts(out) == ["it was the age"]


def test_a_final_received_before_the_replayed_audio_was_sent_is_not_a_repeat() -> None:
    d = Deduplicator()
    d.final(Transcript("hello there", True), sent=10.0)
    d.replay(11.0, all_speech)
    assert texts(d.filter(Transcript("hello there", True))) == ["hello there"]


def test_finals_held_by_an_unresolved_overlap_come_out_at_the_next_connection_or_the_end() -> None:
    d = Deduplicator()
    d.final(Transcript("one two three four five six", True), sent=1.0)
    d.replay(0.0, all_speech)
    assert d.filter(Transcript("five", True)) == []  # may be the start of a repeat: held
    assert texts(d.replay(None, all_speech)) == ["five"]  # nothing lost
    d.final(Transcript("one two three four five six", True), sent=2.0)
    d.replay(0.0, all_speech)
    assert d.filter(Transcript("five", True)) == []
    assert texts(d.finish()) == ["five"]


def test_a_replay_with_no_speech_before_the_last_final_arrived_repeats_nothing() -> None:
    # the stream knows it exactly: nothing the old connection finalised can be in the replay,
    # so a new final that reads like one of the old ones is new speech ("it was the age of ...")
    d = Deduplicator()
    d.final(Transcript("it was the age of wisdom", True), sent=12.0)
    d.replay(11.0, lambda until: 0.0)  # 11.0 to 12.0 was a pause
    out = d.filter(Transcript("it was the age of wisdom", True))
    assert texts(out) == ["it was the age of wisdom"]
    d.final(Transcript("it was the age of wisdom", True), sent=20.0)
    d.replay(11.0, all_speech)  # the same with speech in the replay: a repeat, dropped
    assert d.filter(Transcript("it was the age of wisdom", True)) == []
