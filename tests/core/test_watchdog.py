"""One connection's watchdog: half-open after unanswered speech, done after a drain's silence."""

from __future__ import annotations

import pytest

from speechkit.errors import APIConnectionError
from speechkit.stream.watchdog import Watchdog


def dog(unconfirmed: float = 0.0, *, timed: bool = False, limit: float | None = 10.0) -> Watchdog:
    return Watchdog(
        provider="acme",
        response_limit=limit,
        drain_timeout=2.0,
        timed=timed,
        unconfirmed_speech=lambda: unconfirmed,
        now=0.0,
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
