"""The core's provider hooks beyond connect/framing/parsing, over the in-process fake provider:
a minimum chunk duration, live option updates, a bounded wait in the parser, and session
rotation before an announced expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from fakes import RATE, FakeOptions, FakeProvider, InProcessConnection, frames, speech
from livekit import rtc
from livekit.agents import APIConnectOptions, stt
from speechkit_conformance.harness import wait_for

import speechkit
from speechkit import Session
from speechkit.events import ProviderEvent, Ready, Transcript

E = stt.SpeechEventType
FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
UTTERANCES = [[1, 2], [3, 4, 5]]
WORDS = [f"w{k}" for u in UTTERANCES for k in u]


async def _run(
    provider: FakeProvider, pushed: list[rtc.AudioFrame], *, flush_at: int | None = None, pace: float = 0.0
) -> list[stt.SpeechEvent]:
    stream = speechkit.STT(provider).stream(conn_options=FAST)

    async def push() -> None:
        for i, f in enumerate(pushed):
            stream.push_frame(f)
            if i == flush_at:
                stream.flush()
            if pace:
                await asyncio.sleep(pace)
        stream.end_input()

    pusher = asyncio.create_task(push())
    events = [ev async for ev in stream]
    await pusher
    await stream.aclose()
    return events


def _finals(events: list[stt.SpeechEvent]) -> list[stt.SpeechData]:
    return [e.alternatives[0] for e in events if e.type == E.FINAL_TRANSCRIPT]


class MinChunk(FakeProvider):
    min_chunk_duration = 0.05


async def test_a_tail_under_the_minimum_is_padded_and_the_clock_skips_the_padding() -> None:
    provider = MinChunk(FakeOptions())
    pcm = speech(UTTERANCES)
    # flush 10 ms into a chunk (so 40 ms of padding go out), in the pause after utterance 1
    cut = int(0.85 * RATE) // 160
    events = await _run(provider, frames(pcm, size=160), flush_at=cut)
    sizes = {len(m) for m in provider.received if isinstance(m, bytes)}
    assert min(sizes) == int(0.05 * RATE) * 2, sizes
    words = [w for f in _finals(events) for w in (f.words or [])]
    assert [str(w) for w in words] == WORDS
    second = 0.1 + 2 * (0.12 + 0.06) + 0.4  # where w3 starts in the pushed audio
    assert abs(words[2].start_time - second) < 0.02, words[2].start_time


class LiveUpdates(FakeProvider):
    def update_message(self, previous: Any, session: Any) -> object | None:
        changed = self.options.interim_results != previous.options.interim_results
        return f"update interim_results={self.options.interim_results}" if changed else None


async def test_an_update_the_provider_can_apply_live_is_sent_in_order_without_reconnecting() -> None:
    provider = LiveUpdates(FakeOptions())
    stream = speechkit.STT(provider).stream(conn_options=FAST)
    pushed = frames(speech(UTTERANCES))
    for f in pushed[: len(pushed) // 2]:
        stream.push_frame(f)
    # the first connection carries audio before the update
    assert await wait_for(lambda: bool(provider.audio_bytes()), 3.0)
    stream.update_options(interim_results=False)
    for f in pushed[len(pushed) // 2 :]:
        stream.push_frame(f)
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()
    assert provider.connects == 1 and "update interim_results=False" in provider.received
    assert [w for f in _finals(events) for w in f.text.split()] == WORDS


class HeldFinals(FakeProvider):
    """Holds each final back and releases it from ``on_deadline`` 0.3 s later."""

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        if isinstance(message, Transcript) and message.is_final:
            session.state.setdefault("held", []).append(message)
            session.deadline = time.monotonic() + 0.3
            return ()
        return super().parse(message, session)

    def on_deadline(self, session: Session) -> Iterable[ProviderEvent]:
        held, session.state["held"] = session.state.get("held", []), []
        return held


async def test_on_deadline_releases_what_the_parser_held_while_the_input_stays_open() -> None:
    stream = speechkit.STT(HeldFinals(FakeOptions())).stream(conn_options=FAST)
    for f in frames(speech([[1, 2]])):
        stream.push_frame(f)
    t0 = time.monotonic()
    async with asyncio.timeout(3.0):
        final = await anext(ev async for ev in stream if ev.type == E.FINAL_TRANSCRIPT)
    await stream.aclose()
    assert final.alternatives[0].text == "w1 w2" and time.monotonic() - t0 >= 0.25


class Expiring(FakeProvider):
    """Each session announces that it expires 1.5 s after it opens."""

    expires_in: ClassVar[float] = 1.5

    async def connect(self, session: Session) -> InProcessConnection:
        conn = await super().connect(session)
        conn.out.put_nowait(Ready(self.expires_in))
        return conn

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        return [message] if isinstance(message, Ready) else super().parse(message, session)


async def test_a_session_is_rotated_before_its_announced_expiry_without_losing_words() -> None:
    provider = Expiring(FakeOptions())
    utterances = [[1, 2], [3, 4], [5, 6], [7, 8]]
    events = await _run(provider, frames(speech(utterances)), pace=0.02)  # about 3 s, real time
    assert provider.connects >= 2
    assert [w for f in _finals(events) for w in f.text.split()] == [f"w{k}" for u in utterances for k in u]


class Recording(FakeProvider):
    """Records, per control message, whether the session's input had ended."""

    seen: ClassVar[list[tuple[str, bool]]] = []

    def flush_message(self, session: Session) -> object:
        self.seen.append(("flush", session.input_ended))
        return super().flush_message(session)

    def end_of_input_message(self, session: Session) -> object:
        self.seen.append(("end", session.input_ended))
        return super().end_of_input_message(session)


async def test_a_session_says_when_its_input_ended_and_end_input_flushes_first() -> None:
    Recording.seen = []
    events = await _run(Recording(FakeOptions()), frames(speech(UTTERANCES)), flush_at=40)
    assert [e.text for e in _finals(events)] and Recording.seen == [
        ("flush", False),  # the flush asked for mid-stream
        ("flush", False),  # livekit's end_input() flushes before it ends the input
        ("end", True),
    ]
