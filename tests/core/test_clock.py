"""The stream clock: provider times onto seconds of pushed audio, across connections and padding."""

from __future__ import annotations

import pytest

from speechkit.events import SpeechStarted, Transcript, Word
from speechkit.stream.clock import StreamClock


def test_a_connections_times_start_at_its_first_audio() -> None:
    clock = StreamClock()
    clock.connect(12.5)  # a reconnect whose replay starts 12.5 s into the stream
    assert clock.at(0.0) == 12.5
    assert clock.at(1.25) == pytest.approx(13.75)
    assert clock.at(None) is None


def test_padding_the_core_sent_is_skipped() -> None:
    clock = StreamClock()
    clock.connect(0.0)
    clock.pad(2.0, 0.5)  # after 2 s of audio, 0.5 s of padding went out (a flushed tail)
    assert clock.at(1.0) == pytest.approx(1.0)
    assert clock.at(2.2) == pytest.approx(2.0)  # inside the padding: the end of the real audio
    assert clock.at(3.0) == pytest.approx(2.5)


def test_a_new_connection_forgets_the_old_padding() -> None:
    clock = StreamClock()
    clock.connect(0.0)
    clock.pad(1.0, 1.0)
    clock.connect(4.0)
    assert clock.at(2.0) == pytest.approx(6.0)


def test_every_time_of_an_event_moves_with_livekits_start_time_offset() -> None:
    clock = StreamClock()
    clock.connect(10.0)
    ev = Transcript("a b", True, 0.5, 1.0, words=(Word("a", 0.5, 0.7), Word("b", 0.8, 1.0)))
    moved = clock.to_stream(ev, offset=100.0)
    assert isinstance(moved, Transcript)
    assert (moved.start_time, moved.end_time) == (110.5, 111.0)
    assert [(w.start_time, w.end_time) for w in moved.words] == [(110.5, 110.7), (110.8, 111.0)]
    started = clock.to_stream(SpeechStarted(0.25), offset=0.0)
    assert isinstance(started, SpeechStarted) and started.time == 10.25
