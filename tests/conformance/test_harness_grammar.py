"""The suite's grammar check (``harness.check_grammar``) on hand-built event sequences: an empty
final is a flush's answer, legal anywhere; a final with words outside an utterance is not."""

from __future__ import annotations

import pytest
from livekit.agents import stt
from speechkit_conformance.harness import check_grammar

from speechkit.stream.flushes import empty_final

E = stt.SpeechEventType


def event(kind: stt.SpeechEventType, text: str | None = None) -> stt.SpeechEvent:
    alternatives = [stt.SpeechData(language="en", text=text)] if text is not None else []  # type: ignore[arg-type]
    return stt.SpeechEvent(type=kind, alternatives=alternatives)


UTTERANCE = [event(E.START_OF_SPEECH), event(E.FINAL_TRANSCRIPT, "hello"), event(E.END_OF_SPEECH)]


def test_an_empty_final_between_utterances_is_a_flush_answer() -> None:
    check_grammar([*UTTERANCE, empty_final("en", 1.0, ""), *UTTERANCE], require_final=True)


def test_a_final_with_words_outside_an_utterance_is_rejected() -> None:
    with pytest.raises(AssertionError, match="FINAL_TRANSCRIPT outside an utterance"):
        check_grammar([*UTTERANCE, event(E.FINAL_TRANSCRIPT, "stray")])


def test_an_empty_final_does_not_count_as_an_utterances_words() -> None:
    silent = [event(E.START_OF_SPEECH), empty_final("en", 0.5, ""), event(E.END_OF_SPEECH)]
    with pytest.raises(AssertionError, match="ended without a FINAL"):
        check_grammar(silent, require_final=True)
