"""Interim pacing: up to a burst of interims goes out at once, then a rate; past it only the newest
waits, sent when the rate allows or before the next other event; nothing else is held."""

from __future__ import annotations

import asyncio

from livekit.agents import stt, utils

from speechkit.stream.interims import BURST, RATE, InterimPacer

E = stt.SpeechEventType


def interim(text: str) -> stt.SpeechEvent:
    return stt.SpeechEvent(type=E.INTERIM_TRANSCRIPT, alternatives=[stt.SpeechData(language="en", text=text)])


def event(kind: stt.SpeechEventType) -> stt.SpeechEvent:
    return stt.SpeechEvent(type=kind)


def drained(channel: utils.aio.Chan[stt.SpeechEvent]) -> list[stt.SpeechEvent]:
    out = []
    while True:
        try:
            out.append(channel.recv_nowait())
        except utils.aio.channel.ChanEmpty:
            return out


def texts(events: list[stt.SpeechEvent]) -> list[str]:
    return [e.alternatives[0].text if e.alternatives else e.type.name for e in events]


async def test_interims_at_a_speaking_pace_all_go_out_at_once() -> None:
    channel = utils.aio.Chan[stt.SpeechEvent]()
    pacer = InterimPacer(channel)
    for i in range(BURST):
        pacer.send(interim(f"w{i}"))
    assert texts(drained(channel)) == [f"w{i}" for i in range(BURST)]


async def test_a_flood_keeps_only_the_newest_interim_and_sends_it_when_the_rate_allows() -> None:
    channel = utils.aio.Chan[stt.SpeechEvent]()
    pacer = InterimPacer(channel)
    for i in range(BURST + 1000):
        pacer.send(interim(f"w{i}"))
    assert len(drained(channel)) == BURST
    await asyncio.sleep(2 / RATE)
    assert texts(drained(channel)) == [f"w{BURST + 999}"]
    pacer.close()


async def test_a_waiting_interim_goes_out_before_the_next_other_event_in_order() -> None:
    channel = utils.aio.Chan[stt.SpeechEvent]()
    pacer = InterimPacer(channel)
    for i in range(BURST + 3):
        pacer.send(interim(f"w{i}"))
    pacer.send(event(E.FINAL_TRANSCRIPT))
    pacer.send(event(E.END_OF_SPEECH))
    out = texts(drained(channel))
    assert out[BURST:] == [f"w{BURST + 2}", "FINAL_TRANSCRIPT", "END_OF_SPEECH"]
    await asyncio.sleep(2 / RATE)
    assert drained(channel) == []  # the timer was cancelled: nothing after END


async def test_other_events_are_never_held() -> None:
    channel = utils.aio.Chan[stt.SpeechEvent]()
    pacer = InterimPacer(channel)
    kinds = [E.START_OF_SPEECH, E.FINAL_TRANSCRIPT, E.END_OF_SPEECH, E.RECOGNITION_USAGE] * (BURST * 2)
    for kind in kinds:
        pacer.send(event(kind))
    assert [e.type for e in drained(channel)] == kinds


async def test_close_cancels_the_timer() -> None:
    channel = utils.aio.Chan[stt.SpeechEvent]()
    pacer = InterimPacer(channel)
    for i in range(BURST + 2):
        pacer.send(interim(f"w{i}"))
    drained(channel)
    pacer.close()
    await asyncio.sleep(2 / RATE)
    assert drained(channel) == []
