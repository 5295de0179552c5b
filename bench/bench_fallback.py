"""Failover side by side: speechkit.FallbackSTT and livekit's stt.FallbackAdapter over the same two
members, the same audio and the same fault (the primary goes down mid-call: its connection drops and
every reconnect is refused with 503), on Telnyx emulators with the oracle recognizer, so every word
lost or doubled is counted exactly.

    python bench/bench_fallback.py [--runs 5] [--speed 1.0]

Prints, per chain: words spoken, lost, doubled, and the failover gap (seconds from the fault to the
chain's next final transcript), as the median over runs with the fault at different points.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import logging
import statistics
import time

from livekit.agents import stt
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.telnyx import TelnyxEmulator
from speechkit_conformance.harness import FAST, OracleAudio, normalise
from speechkit_conformance.oracle import VOCABULARY
from speechkit_providers.telnyx import TelnyxOptions, TelnyxProvider

import speechkit
from speechkit.audio import push_frames

AUDIO = OracleAudio(utterances=tuple(tuple(VOCABULARY[2 * i : 2 * i + 2]) for i in range(8)))


def member(emu: TelnyxEmulator) -> speechkit.STT:
    return speechkit.STT(TelnyxProvider(TelnyxOptions(base_url=emu.url, api_key=emu.api_key)))


def count(spoken: list[str], heard: list[str]) -> tuple[int, int]:
    lost = doubled = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=spoken, b=heard, autojunk=False).get_opcodes():
        lost += (i2 - i1) if op in ("delete", "replace") else 0
        doubled += (j2 - j1) if op in ("insert", "replace") else 0
    return lost, doubled


async def one(kind: str, at: float, speed: float) -> tuple[int, int, float | None]:
    async with TelnyxEmulator(faults=FaultPlan(outage_after=at)) as a, TelnyxEmulator() as b:
        members = [member(a), member(b)]
        chain: stt.STT = (
            speechkit.FallbackSTT(members) if kind == "speechkit" else stt.FallbackAdapter(list(members))
        )
        stream = chain.stream(conn_options=FAST)
        pusher = asyncio.create_task(push_frames(stream, AUDIO.frames(), speed=speed))
        finals: list[tuple[float, str]] = []
        with contextlib.suppress(Exception):
            async with asyncio.timeout(4 * AUDIO.duration / speed + 10):
                async for ev in stream:
                    if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT and ev.alternatives:
                        finals.append((time.monotonic(), ev.alternatives[0].text))
        pusher.cancel()
        with contextlib.suppress(BaseException):
            await pusher
        await stream.aclose()
        await chain.aclose()
        for m in members:
            await m.aclose()
        dropped = next(
            (a.sessions[0].started + t for t, k, _ in a.sessions[0].timeline if k == "close"), None
        )
        gap = next((t - dropped for t, _ in finals if dropped is not None and t > dropped), None)
        heard = normalise(" ".join(text for _, text in finals)).split()
        lost, doubled = count(AUDIO.words, heard)
        return lost, doubled, gap


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--speed", type=float, default=1.0, help="push pace (1.0: real time)")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    points = [AUDIO.duration * (0.2 + 0.6 * i / max(1, args.runs - 1)) for i in range(args.runs)]
    print(f"{len(AUDIO.words)} words, {AUDIO.duration:.1f} s of audio at {args.speed:g}x; fault at {points}")
    print(f"{'chain':28} {'lost':>6} {'doubled':>8} {'gap s (median)':>15}")
    rows = {}
    for kind in ("speechkit", "livekit"):
        results = [await one(kind, at, args.speed) for at in points]
        lost = sum(r[0] for r in results)
        doubled = sum(r[1] for r in results)
        gaps = [r[2] for r in results if r[2] is not None]
        gap = statistics.median(gaps) if gaps else float("nan")
        rows[kind] = (lost, doubled, gap)
        name = "speechkit.FallbackSTT" if kind == "speechkit" else "livekit stt.FallbackAdapter"
        print(f"{name:28} {lost:6d} {doubled:8d} {gap:15.3f}   (over {len(results)} runs)")


if __name__ == "__main__":
    asyncio.run(main())
