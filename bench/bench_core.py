"""Benchmark of the core's per-stream overhead (not a test): how many real-time streams fit.

N concurrent streams each push 20 ms frames of 48 kHz audio (WebRTC's rate, so every
stream resamples to 16 kHz) for D seconds of audio, paced at real time, into a provider
that accepts the audio and answers nothing. Prints CPU seconds per second of audio and
the implied streams per core, side by side with the reference: a bare livekit
``RecognizeStream`` subclass doing the same resampling and reading its input (livekit's own
machinery, without speechkit's chunking, replay buffer, pause tracking, usage and grammar).

Usage::

    python bench/bench_core.py --streams 100 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, stt

import speechkit
from speechkit import Capabilities, ProviderOptions, Session
from speechkit.events import ProviderEvent

RATE_IN = 48000  # set by --input-rate


class _NullConnection:
    async def send(self, message: object) -> None:
        return None

    async def receive(self) -> object | None:
        await asyncio.Event().wait()  # never answers; the stream ends by its drain timeout
        return None

    async def aclose(self) -> None:
        return None


class NullProvider(speechkit.Provider[ProviderOptions]):
    """Takes audio, answers nothing: the core's own cost, no vendor's."""

    name: ClassVar[str] = "null"
    capabilities = Capabilities(needs_network=False)
    drain_timeout = 0.01
    response_timeout = None  # answers nothing by design: no half-open detection

    async def connect(self, session: Session) -> _NullConnection:
        return _NullConnection()

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        return ()


class _BareStream(stt.RecognizeStream):
    async def _run(self) -> None:
        async for _ in self._input_ch:
            pass


class BareSTT(stt.STT):
    """livekit's base classes only: resample in push_frame, read the input channel."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))

    async def _recognize_impl(self, buffer, *, language=None, conn_options=None):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def stream(self, *, language=None, conn_options=None) -> _BareStream:  # type: ignore[no-untyped-def, override]
        return _BareStream(stt=self, conn_options=conn_options or APIConnectOptions(), sample_rate=16000)


class _Sink:
    """No stream at all: what the pacing driver itself costs."""

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        pass

    def end_input(self) -> None:
        pass

    def __aiter__(self) -> _Sink:
        return self

    async def __anext__(self) -> None:
        raise StopAsyncIteration

    async def aclose(self) -> None:
        pass


class SinkSTT:
    def stream(self) -> _Sink:
        return _Sink()


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def one(engine: Any, frames: list[rtc.AudioFrame]) -> None:
    stream = engine.stream()
    t0, pushed = time.monotonic(), 0.0
    for f in frames:
        stream.push_frame(f)
        pushed += f.samples_per_channel / f.sample_rate
        await asyncio.sleep(max(0.0, t0 + pushed - time.monotonic()))
    stream.end_input()
    async for _ in stream:
        pass
    await stream.aclose()


async def measure(engine: Any, streams: int, seconds: float) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    pcm = (rng.standard_normal(int(RATE_IN * seconds)) * 3000).astype(np.int16)
    size = RATE_IN // 50  # 20 ms frames, as WebRTC delivers them
    frames = [rtc.AudioFrame(pcm[i : i + size].tobytes(), RATE_IN, 1, size) for i in range(0, len(pcm), size)]
    c0, t0 = cpu(), time.perf_counter()
    await asyncio.gather(*(one(engine, frames) for _ in range(streams)))
    wall = time.perf_counter() - t0
    return (cpu() - c0) / (streams * seconds), wall


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--input-rate", type=int, default=48000, help="Hz pushed (16000: no resampling)")
    args = ap.parse_args()
    global RATE_IN
    RATE_IN = args.input_rate
    drv_cpu, drv_wall = await measure(SinkSTT(), args.streams, args.seconds)
    ref_cpu, ref_wall = await measure(BareSTT(), args.streams, args.seconds)
    sk_cpu, sk_wall = await measure(
        speechkit.STT(NullProvider(ProviderOptions())), args.streams, args.seconds
    )
    rows = (
        ("pacing driver alone", drv_cpu, drv_wall),
        ("livekit bare RecognizeStream", ref_cpu, ref_wall),
        ("speechkit core", sk_cpu, sk_wall),
    )
    for name, c, w in rows:
        print(
            f"{name:<30} {args.streams} streams x {args.seconds:.0f} s: CPU {c * 1000:.2f} ms per audio s "
            f"-> ~{1 / c:.0f} real-time streams per core (wall {w:.1f} s)"
        )
    print(
        f"speechkit / livekit CPU ratio: {sk_cpu / ref_cpu:.2f}x; net of the driver: "
        f"{(sk_cpu - drv_cpu) / (ref_cpu - drv_cpu):.2f}x "
        f"({(sk_cpu - drv_cpu) * 1000:.2f} vs {(ref_cpu - drv_cpu) * 1000:.2f} ms per audio s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
