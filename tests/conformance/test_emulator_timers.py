"""The emulators' session timers (``Deadline``): one handle per session, armed for the next moment
anything is due, so a thousand idle sessions cost no wakeups."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from speechkit_conformance.emulator import Deadline
from speechkit_conformance.emulators.assemblyai import AssemblyAIEmulator
from speechkit_conformance.emulators.speechmatics import SpeechmaticsEmulator
from speechkit_conformance.emulators.telnyx import TelnyxEmulator


async def test_a_deadline_ticks_once_at_its_moment() -> None:
    ticks: list[float] = []
    deadline = Deadline(lambda: ticks.append(time.monotonic()) and None)
    t0 = time.monotonic()
    deadline.wake(t0 + 0.05)
    await asyncio.sleep(0.15)
    assert len(ticks) == 1 and ticks[0] >= t0 + 0.05


async def test_a_moment_that_moved_later_is_found_when_the_handle_fires() -> None:
    due = [time.monotonic() + 0.03]
    ticks: list[float] = []

    def tick() -> float | None:
        now = time.monotonic()
        ticks.append(now)
        return due[0] if now < due[0] else None

    deadline = Deadline(tick)
    deadline.wake(due[0])
    due[0] += 0.05  # later: no call needed, nor any re-arming until the old moment
    deadline.wake(due[0])  # a later wake is only a comparison
    await asyncio.sleep(0.15)
    assert len(ticks) == 2 and ticks[-1] >= due[0]


async def test_an_earlier_wake_re_arms_and_cancel_stops_it() -> None:
    ticks: list[float] = []
    deadline = Deadline(lambda: ticks.append(time.monotonic()) and None)
    t0 = time.monotonic()
    deadline.wake(t0 + 10.0)
    deadline.wake(t0 + 0.02)
    await asyncio.sleep(0.08)
    assert len(ticks) == 1 and ticks[0] < t0 + 1.0
    deadline.cancel()
    deadline.wake()
    await asyncio.sleep(0.03)
    assert len(ticks) == 1


async def test_idle_sessions_do_not_poll() -> None:
    loop = asyncio.get_running_loop()
    calls = [0]
    call_at = loop.call_at

    def counting_call_at(*args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        calls[0] += 1
        return call_at(*args, **kwargs)

    telnyx = "/v2/speech-to-text/transcription?input_format=linear16&sample_rate=16000"
    assemblyai = "/v3/ws?sample_rate=16000&speech_model=u3-rt-pro"
    async with aiohttp.ClientSession() as http:
        for emu, path, scheme in (
            (TelnyxEmulator(), telnyx, "Bearer "),
            (AssemblyAIEmulator(), assemblyai, ""),
            (SpeechmaticsEmulator(), "", "Bearer "),
        ):
            async with emu:
                auth = {"Authorization": scheme + emu.api_key}
                sockets = [await http.ws_connect(emu.url + path, headers=auth) for _ in range(20)]
                await asyncio.sleep(0.05)
                calls[0] = 0
                loop.call_at = counting_call_at  # type: ignore[method-assign]
                try:
                    await asyncio.sleep(0.3)  # a 10 ms poll would arm 600 timers here
                finally:
                    del loop.call_at
                assert calls[0] <= 2, (type(emu).__name__, calls[0])  # our own sleep's
                for ws in sockets:
                    await ws.close()
