"""Overlap resolution after a reconnect, for untimed finals (speechkit.overlap)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from speechkit.overlap import ReplayOverlap
from speechkit.text import drop_words
from speechkit.text import words as words_of


def resolve(emitted: str, finals: list[str]) -> list[str]:
    """The texts a stream emits for ``finals`` of a new connection after ``emitted`` went out."""
    overlap: ReplayOverlap[str] = ReplayOverlap(words_of(emitted))
    out: list[str] = []
    for text in finals:
        out += [emitted for _, emitted in overlap.final(text, text).emit]
    return out + [text for text, _ in overlap.finish()]


def test_words_are_compared_without_case_or_punctuation() -> None:
    assert words_of("Times, it WAS... the best!") == ["times", "it", "was", "the", "best"]


def test_dropping_words_keeps_the_rest_of_the_text_as_written() -> None:
    assert drop_words("of times. It was the age", 2) == "It was the age"


def test_a_repeated_final_is_dropped_and_the_next_passes() -> None:
    emitted = "Ask what you can do for your country. And so my fellow Americans."
    assert resolve(emitted, ["And so my fellow Americans.", "Ask not!"]) == ["Ask not!"]


def test_a_repeat_decoded_slightly_differently_is_still_a_repeat() -> None:
    # seen with Whisper tiny.en re-decoding the replayed audio of samples/jfk.flac
    emitted = "Ask what you can do for your country. And so my fellow Americans."
    assert resolve(emitted, ["And so am I fellow Americans.", "Ask not!"]) == ["Ask not!"]


def test_a_final_that_ends_the_repeat_midway_keeps_its_new_words() -> None:
    emitted = "It was the best of times, it was the worst of times."
    assert resolve(emitted, ["of times. It was the age"]) == ["It was the age"]


def test_a_repeated_phrase_in_new_speech_is_not_taken_for_a_repeat() -> None:
    emitted = "It was the best of times, it was the worst of times."
    assert resolve(emitted, ["It was the age of wisdom"]) == ["It was the age of wisdom"]


def test_finals_held_while_ambiguous_are_released_when_no_repeat_is_found() -> None:
    emitted = "It was the best of times, it was the worst of times."
    assert resolve(emitted, ["it was", "the age"]) == ["it was", "the age"]


def test_finals_held_while_ambiguous_are_dropped_when_the_repeat_completes() -> None:
    emitted = "It was the best of times, it was the worst of times."
    assert resolve(emitted, ["it was", "the worst", "of times. It was the age"]) == ["It was the age"]


def test_a_repeat_that_differs_in_places_is_judged_over_all_its_finals() -> None:
    # seen on samples/jfk.flac x3: the first decode said "Ask!" "Lock! Lock!", the replay "Ask not!"
    emitted = "And so my fellow Americans. Ask! Lock! Lock! What your country can do for you."
    again = ["And so am I fellow Americans.", "Ask not!", "What your country can do for you.", "Ask what"]
    assert resolve(emitted, again) == ["Ask what"]


def test_a_replay_that_starts_inside_a_word_may_open_with_junk() -> None:
    # seen on samples/jfk.flac x3: the replay began inside "Americans", decoded as "back up."
    emitted = "Ask! Lock! Lock! What your country can do for you. Ask what you can do for your country."
    again = [
        "back up.",
        "Ask not!",
        "What your country can do for you.",
        "Ask what you can do for your country.",
        "And so",
    ]
    assert resolve(emitted, again) == ["And so"]


def test_a_short_new_final_after_an_exact_replay_is_only_held_until_the_next() -> None:
    assert resolve("alpha bravo", ["charlie", "delta echo"]) == ["charlie", "delta echo"]


def test_finals_held_when_the_stream_ends_are_emitted_not_lost() -> None:
    emitted = "It was the best of times, it was the worst of times."
    assert resolve(emitted, ["it was the"]) == ["it was the"]


_WORDS = [f"w{i}" for i in range(200)]


@given(
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=40, unique=True),
    st.data(),
)
def test_every_word_is_emitted_once_wherever_the_replay_starts(words: list[str], data: st.DataObject) -> None:
    """Distinct words, emitted in finals up to ``cut``; the replay starts at ``start`` <= cut and
    the new connection's finals split the rest anywhere: the stream emits each word once."""
    cut = data.draw(st.integers(0, len(words)), label="cut")
    start = data.draw(st.integers(0, cut), label="replay start")
    again = words[start:]
    bounds = sorted(data.draw(st.sets(st.integers(1, max(1, len(again) - 1)), max_size=6), label="splits"))
    finals = [" ".join(again[i:j]) for i, j in zip([0, *bounds], [*bounds, len(again)], strict=True)]
    out = resolve(" ".join(words[:cut]), [f for f in finals if f])
    assert " ".join(out).split() == words[cut:]


def test_a_replay_of_phrases_that_repeat_drops_the_whole_repeat_not_a_lookalike() -> None:
    # seen on a real reading of A Tale of Two Cities through the Telnyx emulator with the local
    # recognizer, a stall at 15 s: the replay began at "the epoch of belief", whose final
    # looked like a repeat of "it was the epoch of incredulity" with its last word misheard;
    # the true repeat went on, and "It was the epoch of incredulity." came out twice
    emitted = "It was the age of foolishness. It was the epoch of belief. It was the epoch of incredulity."
    again = [
        "us.",
        "It was the epoch of belief.",
        "It was the epoch of incredulity.",
        "It was the season of light. It was the season of darkness.",
    ]
    assert resolve(emitted, again) == ["It was the season of light. It was the season of darkness."]


_NOUNS = ["age", "epoch", "season", "spring", "winter"]
_THINGS = ["wisdom", "foolishness", "belief", "incredulity", "light", "darkness", "hope", "despair"]


@given(
    st.lists(
        st.tuples(st.sampled_from(_NOUNS), st.sampled_from(_THINGS)), min_size=1, max_size=12, unique=True
    ),
    st.data(),
)
def test_every_phrase_is_emitted_once_when_phrases_share_their_words(
    phrases: list[tuple[str, str]], data: st.DataObject
) -> None:
    """Rhetoric as in Dickens ("it was the age of wisdom, it was the age of foolishness"):
    distinct phrases built of the same few words, one final each, emitted up to ``cut``; the
    replay starts at a phrase before it: every phrase comes out once.

    (A replay that repeats nothing is told apart by the stream, not by text: see
    test_dedupe's replay with no speech before the last final.)"""
    texts = [f"It was the {noun} of {thing}." for noun, thing in phrases]
    cut = data.draw(st.integers(1, len(texts)), label="cut")
    start = data.draw(st.integers(max(0, cut - 4), cut - 1), label="replay start")
    out = resolve(" ".join(texts[:cut]), texts[start:])
    assert " ".join(out).split() == " ".join(texts[cut:]).split()
