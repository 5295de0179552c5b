"""The replay buffer's contract: what it keeps, what frees it, and how it holds new audio back."""

from __future__ import annotations

import asyncio
import logging
import math

import pytest

from speechkit.stream.input import Chunk
from speechkit.stream.replay import ReplayBuffer


def chunk(start: float, seconds: float = 0.1, *, speech: bool = True) -> Chunk:
    return Chunk(b"\0\0" * int(seconds * 16000), start, start + seconds, 0.0, speech)


def filled(buffer: ReplayBuffer, seconds: float, *, step: float = 0.1, at: float = 0.0) -> float:
    t = at
    while t < at + seconds - 1e-9:
        buffer.add(chunk(t, step))
        t = round(t + step, 6)
    return t


def test_a_timed_final_frees_the_audio_up_to_its_end() -> None:
    buffer = ReplayBuffer()
    filled(buffer, 2.0)
    buffer.confirm(1.2, end_of_utterance=False)
    assert buffer.start == pytest.approx(1.2)
    assert buffer.seconds == pytest.approx(0.8)


def test_an_untimed_final_closing_an_utterance_frees_up_to_the_oldest_pause() -> None:
    buffer = ReplayBuffer()
    filled(buffer, 3.0)
    buffer.add_boundary(1.0)
    buffer.add_boundary(2.0)
    buffer.confirm(None, end_of_utterance=True)
    assert buffer.start == pytest.approx(1.0)
    buffer.confirm(None, end_of_utterance=True)
    assert buffer.start == pytest.approx(2.0)
    buffer.confirm(None, end_of_utterance=True)  # no pause left: it cannot know what it covered
    assert buffer.start == pytest.approx(2.0)


def test_an_untimed_final_that_does_not_close_its_utterance_frees_nothing() -> None:
    buffer = ReplayBuffer()
    filled(buffer, 2.0)
    buffer.add_boundary(1.0)
    buffer.confirm(None, end_of_utterance=False)
    assert buffer.start == 0.0
    buffer.confirm(None, end_of_utterance=True)  # the boundary is still there for its final
    assert buffer.start == pytest.approx(1.0)


def test_a_timed_final_also_uses_up_the_pauses_it_covers() -> None:
    buffer = ReplayBuffer()
    filled(buffer, 3.0)
    buffer.add_boundary(1.0)
    buffer.add_boundary(2.0)
    buffer.confirm(1.5, end_of_utterance=True)  # covers the first pause
    buffer.confirm(None, end_of_utterance=True)  # an untimed final next covers up to the second
    assert buffer.start == pytest.approx(2.0)


def test_speech_seconds_leave_silence_out() -> None:
    buffer = ReplayBuffer()
    buffer.add(chunk(0.0, 0.5, speech=True))
    buffer.add(chunk(0.5, 0.3, speech=False))
    assert buffer.seconds == pytest.approx(0.8)
    assert buffer.speech_seconds == pytest.approx(0.5)


def test_past_the_room_the_oldest_audio_goes_and_one_warning_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="speechkit")
    buffer = ReplayBuffer(1.0, log_extra=lambda: {"provider": "acme"})
    filled(buffer, 3.0)
    assert buffer.seconds <= 1.0 + 1e-6
    assert buffer.start == pytest.approx(2.0)
    warnings = [r for r in caplog.records if "await a final" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].provider == "acme"  # type: ignore[attr-defined]


def test_speech_dropped_from_a_full_room_is_counted_for_the_error_that_names_it() -> None:
    # a second failure after the room overflowed cannot replay what was dropped: the stream's
    # error and its reconnect log name these seconds (never a quiet gap)
    buffer = ReplayBuffer(1.0)
    for i in range(30):
        buffer.add(chunk(i * 0.1, speech=i % 2 == 0))
    assert buffer.dropped_speech == pytest.approx(1.0)  # 2 s dropped, half of it speech
    buffer.confirm(3.0, end_of_utterance=True)
    assert buffer.dropped_speech == pytest.approx(1.0)  # a later final does not undo it


async def test_new_audio_waits_for_room_until_a_final_frees_it() -> None:
    buffer = ReplayBuffer(1.0, wait=5.0)
    filled(buffer, 1.0)
    waiting = asyncio.create_task(buffer.room_for(0.1))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # full: held back
    buffer.confirm(0.5, end_of_utterance=False)
    await asyncio.wait_for(waiting, 1.0)


async def test_room_is_not_awaited_while_there_is_some() -> None:
    buffer = ReplayBuffer(1.0, wait=5.0)
    filled(buffer, 0.5)
    await asyncio.wait_for(buffer.room_for(0.2), 0.1)


async def test_a_server_that_finalises_nothing_costs_one_wait_not_one_per_chunk() -> None:
    buffer = ReplayBuffer(1.0, wait=0.2)
    end = filled(buffer, 1.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(10):
        await buffer.room_for(0.1)
        buffer.add(chunk(end))
        end += 0.1
    assert loop.time() - t0 < 0.2 * 3  # one wait of 0.2 s, not ten
    buffer.confirm(end - 0.5, end_of_utterance=False)  # a final: the next overflow waits again
    filled(buffer, 1.0, at=end)
    waiting = asyncio.create_task(buffer.room_for(0.1))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    waiting.cancel()


async def test_an_unbounded_buffer_never_holds_audio_back() -> None:
    buffer = ReplayBuffer(math.inf, wait=5.0)
    filled(buffer, 100.0, step=1.0)
    await asyncio.wait_for(buffer.room_for(10.0), 0.1)
    assert buffer.seconds == pytest.approx(100.0)
