"""The event grammar holds whatever legal order a provider sends events in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from livekit.agents import stt

from speechkit.events import SpeechEnded, SpeechStarted, Transcript
from speechkit.grammar import Grammar

E = stt.SpeechEventType

provider_events = st.lists(
    st.one_of(
        st.builds(SpeechStarted, st.none()),
        st.builds(SpeechEnded, st.none()),
        st.builds(
            Transcript,
            st.sampled_from(["", "hello", "hello world"]),
            st.booleans(),
            end_of_utterance=st.booleans(),
        ),
    ),
    max_size=30,
)


def check_grammar(types: list[stt.SpeechEventType]) -> None:
    """START (INTERIM* FINAL)* INTERIM* END; nothing outside an utterance.

    Trailing interims before END occur only when the provider retracted them with
    an empty final (see test_end_of_speech_waits_for_the_final_of_shown_words).
    """
    in_speech = False
    finals = 0
    for t in types:
        if t == E.START_OF_SPEECH:
            assert not in_speech, "START inside an utterance"
            in_speech, finals = True, 0
        elif t == E.INTERIM_TRANSCRIPT:
            assert in_speech, "INTERIM outside an utterance"
        elif t == E.FINAL_TRANSCRIPT:
            assert in_speech, "FINAL outside an utterance"
            finals += 1
        elif t == E.END_OF_SPEECH:
            assert in_speech, "END without START"
            in_speech = False
    assert not in_speech, "stream ended inside an utterance"


@given(provider_events, st.booleans())
def test_grammar_holds_for_any_event_order(events: list[object], provider_ends: bool) -> None:
    g = Grammar(language="en", provider_ends_utterances=provider_ends)
    out = [ev for e in events for ev in g.feed(e)] + g.close()  # type: ignore[arg-type]
    check_grammar([e.type for e in out])


@given(provider_events)
def test_every_nonempty_final_is_emitted_once(events: list[object]) -> None:
    g = Grammar(language="en", provider_ends_utterances=True)
    out = [ev for e in events for ev in g.feed(e)]  # type: ignore[arg-type]
    sent = [e for e in events if isinstance(e, Transcript) and e.is_final and e.text]
    assert len([e for e in out if e.type == E.FINAL_TRANSCRIPT]) == len(sent)


def test_start_is_synthesised_before_the_first_transcript() -> None:
    g = Grammar(language="en", provider_ends_utterances=False)
    out = g.feed(Transcript("hi", False)) + g.feed(Transcript("hi there", True))
    assert [e.type for e in out] == [
        E.START_OF_SPEECH,
        E.INTERIM_TRANSCRIPT,
        E.FINAL_TRANSCRIPT,
        E.END_OF_SPEECH,
    ]


def test_end_of_speech_waits_for_the_final_of_shown_words() -> None:
    g = Grammar(language="en", provider_ends_utterances=True)
    out = g.feed(Transcript("hi", False)) + g.feed(SpeechEnded(1.0))
    assert E.END_OF_SPEECH not in [e.type for e in out]
    out = g.feed(Transcript("hi there", True))
    assert [e.type for e in out] == [E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]


def test_close_promotes_a_dangling_interim_to_final() -> None:
    g = Grammar(language="en", provider_ends_utterances=True)
    g.feed(Transcript("last words", False))
    out = g.close()
    assert [(e.type, e.alternatives[0].text if e.alternatives else None) for e in out] == [
        (E.FINAL_TRANSCRIPT, "last words"),
        (E.END_OF_SPEECH, None),
    ]
