"""One connection's watchdog: half-open after unanswered speech, done after a drain's silence."""

from __future__ import annotations

import pytest

from speechkit.errors import APIConnectionError
from speechkit.stream.watchdog import MuteError, Watchdog


def dog(
    unconfirmed: float = 0.0, *, timed: bool = False, limit: float | None = 10.0, mute: float | None = None
) -> Watchdog:
    return Watchdog(
        provider="acme",
        response_limit=limit,
        drain_timeout=2.0,
        timed=timed,
        unconfirmed_speech=lambda: unconfirmed,
        now=0.0,
        mute_limit=mute,
    )


def test_speech_unanswered_for_the_limit_is_a_half_open_connection() -> None:
    w = dog()
    w.spoke(1.0)
    assert not w.drained(10.9, draining=False)
    with pytest.raises(APIConnectionError, match="no server message for 10 s"):
        w.drained(11.0, draining=False)


def test_any_server_message_answers_the_speech_sent_before_it() -> None:
    w = dog()
    w.spoke(1.0)
    w.heard(5.0)
    assert not w.drained(14.0, draining=False)  # no new speech since: nothing owed
    w.spoke(14.0)
    assert w.timeout(14.0, draining=False) == pytest.approx(10.0)


def test_silence_sent_is_owed_nothing() -> None:
    w = dog()
    assert w.timeout(100.0, draining=False) == 10.0  # look again after one bound
    assert not w.drained(100.0, draining=False)


def test_after_the_input_ends_a_drains_silence_ends_the_connection() -> None:
    w = dog()
    w.heard(3.0)
    w.input_ended(4.0)
    assert w.timeout(4.0, draining=True) == pytest.approx(2.0)
    assert not w.drained(5.9, draining=True)
    assert w.drained(6.0, draining=True)


def test_while_draining_timed_finals_still_owe_unconfirmed_speech() -> None:
    w = dog(unconfirmed=1.0, timed=True)
    w.input_ended(0.0)
    assert not w.drained(9.0, draining=True)  # quiet for the drain, but speech awaits its final
    with pytest.raises(APIConnectionError):
        w.drained(10.0, draining=True)


def test_untimed_finals_do_not_owe_unconfirmed_speech_while_draining() -> None:
    w = dog(unconfirmed=1.0, timed=False)
    w.input_ended(0.0)
    assert w.drained(2.0, draining=True)


def test_no_limit_turns_the_half_open_check_off() -> None:
    w = dog(limit=None)
    w.spoke(0.0)
    assert not w.drained(1000.0, draining=False)


def test_an_interim_with_words_and_no_final_after_it_is_owed_a_final_while_draining() -> None:
    # acme's suite case "stalls right after the last audio" (burst): the server sent an interim
    # for the last words, then went half-open; the drain took its silence for "done" and the
    # last word was lost
    w = dog()
    w.spoke(1.0)
    w.heard(1.2)
    w.transcript(final=False, has_words=True)
    w.input_ended(1.5)
    assert w.timeout(1.5, draining=True) == pytest.approx(10.0)  # the response limit, not the drain
    assert not w.drained(3.6, draining=True)  # a drain's silence is not enough
    assert not w.drained(11.4, draining=True)
    with pytest.raises(APIConnectionError, match="half-open"):
        w.drained(11.5, draining=True)


def test_a_final_after_the_interim_pays_what_was_owed() -> None:
    w = dog()
    w.spoke(1.0)
    w.heard(1.2)
    w.transcript(final=False, has_words=True)
    w.heard(1.4)
    w.transcript(final=True, has_words=True)
    w.input_ended(1.5)
    assert w.drained(3.5, draining=True)


def test_a_server_that_answers_but_gives_no_words_for_utterances_is_mute() -> None:
    w = dog(mute=5.0)
    for t in (1.0, 2.0, 3.0):
        w.spoke(t - 0.5)
        w.uttered(t, at=t)
        w.heard(t + 0.1)  # acknowledgements, empty partials
        w.transcript(final=False, has_words=False)
    assert w.timeout(3.1, draining=False) == pytest.approx(2.9)  # five seconds after the first
    assert not w.drained(5.9, draining=False)
    with pytest.raises(APIConnectionError, match="no transcript for 5 s while 3 utterances"):
        w.drained(6.0, draining=False)


def test_words_reset_the_mute_rule_and_fewer_utterances_never_trip_it() -> None:
    w = dog(mute=5.0)
    w.uttered(1.0, at=1.0)
    w.uttered(2.0, at=2.0)
    assert not w.drained(30.0, draining=False)  # two utterances: a cough, a word the vendor skipped
    w.uttered(3.0, at=3.0)
    w.heard(3.5)
    w.transcript(final=False, has_words=True)
    assert not w.drained(30.0, draining=False)
    assert w.timeout(30.0, draining=False) == pytest.approx(5.0)  # look again after one bound


def test_continuous_sound_without_a_pause_never_trips_the_mute_rule() -> None:
    w = dog(mute=5.0)
    for t in range(1, 60):
        w.spoke(float(t))
        w.heard(t + 0.1)
    assert not w.drained(60.0, draining=False)


def test_a_session_that_finishes_leaving_utterances_without_words_was_mute() -> None:
    # pushed faster than real time, a mute server finishes before the clock can tell
    w = dog(mute=20.0)
    for t in (1.0, 2.0, 3.0):
        w.uttered(0.1, at=t)
    with pytest.raises(MuteError, match="without a transcript for the last 3 utterances") as caught:
        w.closed(trusted_until=0.0)
    assert caught.value.position == 3.0


def test_the_replacement_of_a_mute_connection_has_the_last_word_on_its_audio() -> None:
    # a recording whose last utterances hold no words (coughs, music with pauses): one
    # second opinion, then the stream ends normally instead of failing
    w = dog(mute=20.0)
    for t in (1.0, 2.0, 3.0):
        w.uttered(0.1, at=t)
    w.closed(trusted_until=3.0)
    w.uttered(0.2, at=4.0)
    w.closed(trusted_until=2.0)  # two new, one old: under the count
