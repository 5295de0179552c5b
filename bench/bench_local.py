"""Benchmark of the local provider through the speechkit core (not a test).

Prints, for real recordings:

* file mode (as fast as the provider accepts): RTF, and WER against references when a
  manifest is given; side by side with the reference, faster-whisper's own batch
  ``transcribe`` of the same audio in the same process (ratio printed);
* real-time mode (paced at 1x) for 1, 2 and 4 concurrent streams: time to first interim
  and final latency (p50/p95, from the core's ``metrics_collected``), CPU seconds per
  audio second, peak RSS;
* optionally (--long SECONDS) one long real-time stream, comparing final latency in its
  first and last minute (a growing lag shows as a rise).

Usage::

    python bench/bench_local.py                                # samples/jfk.flac
    python bench/bench_local.py --manifest /work/speechdata/manifest.jsonl --long 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents import stt as lk_stt

import speechkit
from speechkit.audio import decode_file, push_frames
from speechkit.metrics import SpeechkitSTTMetrics

ROOT = Path(__file__).resolve().parent.parent
E = lk_stt.SpeechEventType


def normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def to_16k(frames: list[rtc.AudioFrame]) -> np.ndarray:
    """Mono 16 kHz float32 for the faster-whisper reference."""
    import av

    rate = frames[0].sample_rate
    pcm = np.concatenate(
        [np.frombuffer(f.data, np.int16).reshape(-1, f.num_channels).mean(axis=1) for f in frames]
    ).astype(np.int16)
    if rate == 16000:
        return pcm.astype(np.float32) / 32768
    r = av.AudioResampler(format="s16", layout="mono", rate=16000)
    fr = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    fr.sample_rate = rate
    out = [f.to_ndarray().reshape(-1) for f in r.resample(fr)] + [
        f.to_ndarray().reshape(-1) for f in r.resample(None)
    ]
    return np.concatenate(out).astype(np.float32) / 32768


async def run_stream(engine: speechkit.STT, frames: list[rtc.AudioFrame], realtime: bool) -> str:
    stream = engine.stream()
    finals: list[str] = []

    feeder = asyncio.create_task(push_frames(stream, frames, speed=1.0 if realtime else None))
    async for ev in stream:
        if ev.type == E.FINAL_TRANSCRIPT:
            finals.append(ev.alternatives[0].text)
    await feeder
    await stream.aclose()
    return " ".join(finals)


def collect(engine: speechkit.STT) -> list[SpeechkitSTTMetrics]:
    seen: list[SpeechkitSTTMetrics] = []
    engine.on("metrics_collected", lambda m: seen.append(m) if isinstance(m, SpeechkitSTTMetrics) else None)
    return seen


async def file_mode(clips: list[tuple[str, list[rtc.AudioFrame], float, str | None]]) -> None:
    import jiwer
    from faster_whisper import WhisperModel
    from speechkit_providers.local.engine import resolve_model_path

    engine = speechkit.stt("local")
    assert isinstance(engine, speechkit.STT)
    await run_stream(engine, clips[0][1][:50], realtime=False)  # load the model once, outside timing
    ref_model = WhisperModel(
        str(resolve_model_path("tiny.en")), device="cpu", compute_type="int8", cpu_threads=2
    )
    hyps, refs, ref_hyps = [], [], []
    total_audio = wall = ref_wall = 0.0
    print(f"{'clip':<22}{'sec':>7}{'RTF':>7}{'ref RTF':>9}{'WER':>7}{'ref WER':>9}")
    for name, frames, seconds, text in clips:
        t0 = time.perf_counter()
        hyp = await run_stream(engine, frames, realtime=False)
        took = time.perf_counter() - t0
        audio16 = to_16k(frames)
        t0 = time.perf_counter()
        segments, _ = ref_model.transcribe(audio16, language="en", beam_size=5, vad_filter=True)
        ref_hyp = " ".join(s.text.strip() for s in segments)
        ref_took = time.perf_counter() - t0
        total_audio += seconds
        wall += took
        ref_wall += ref_took
        w = rw = float("nan")
        if text is not None:
            refs.append(normalise(text))
            hyps.append(normalise(hyp))
            ref_hyps.append(normalise(ref_hyp))
            w = jiwer.wer(refs[-1], hyps[-1])
            rw = jiwer.wer(refs[-1], ref_hyps[-1])
        print(f"{name:<22}{seconds:7.1f}{took / seconds:7.3f}{ref_took / seconds:9.3f}{w:7.1%}{rw:9.1%}")
    print(
        f"file mode: {total_audio:.1f} s of audio, RTF {wall / total_audio:.3f} "
        f"(faster-whisper batch transcribe: {ref_wall / total_audio:.3f}; ratio {wall / ref_wall:.2f}x)"
    )
    if refs:
        print(
            f"file mode WER (jiwer, corpus, case+punctuation normalised): {jiwer.wer(refs, hyps):.1%} "
            f"(faster-whisper batch: {jiwer.wer(refs, ref_hyps):.1%})"
        )
    await engine.aclose()


async def realtime_mode(frames: list[rtc.AudioFrame], seconds: float, concurrency: int) -> None:
    engine = speechkit.stt("local")
    assert isinstance(engine, speechkit.STT)
    await run_stream(engine, frames[:50], realtime=False)
    seen = collect(engine)
    c0, t0 = cpu_s(), time.perf_counter()
    await asyncio.gather(*(run_stream(engine, frames, realtime=True) for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    ttfi = [m.time_to_first_interim for m in seen if m.time_to_first_interim is not None]
    final = [m.final_latency for m in seen if m.final_latency is not None]
    print(
        f"{concurrency} stream(s) x {seconds:.0f} s real time: wall {wall:.1f} s, "
        f"CPU {cpu / (seconds * concurrency):.3f} s per audio s, peak RSS {rss_mb():.0f} MB | "
        f"first interim p50 {pct(ttfi, 0.5):.2f} s p95 {pct(ttfi, 0.95):.2f} s (n={len(ttfi)}) | "
        f"final p50 {pct(final, 0.5):.2f} s p95 {pct(final, 0.95):.2f} s "
        f"max {max(final, default=float('nan')):.2f} s "
        f"(n={len(final)})"
    )
    await engine.aclose()


async def long_mode(frames: list[rtc.AudioFrame], seconds: float) -> None:
    engine = speechkit.stt("local")
    assert isinstance(engine, speechkit.STT)
    await run_stream(engine, frames[:50], realtime=False)
    seen = collect(engine)
    stamps: list[tuple[float, float]] = []
    engine.on(
        "metrics_collected",
        lambda m: (
            stamps.append((time.perf_counter(), m.final_latency))
            if isinstance(m, SpeechkitSTTMetrics) and m.final_latency is not None
            else None
        ),
    )
    t0 = time.perf_counter()
    await run_stream(engine, frames, realtime=True)
    first = [lat for t, lat in stamps if t - t0 < 60]
    last = [lat for t, lat in stamps if t - t0 > seconds - 60]
    ttfi = [m.time_to_first_interim for m in seen if m.time_to_first_interim is not None]
    print(
        f"long real-time stream {seconds:.0f} s: final latency first minute p50 {pct(first, 0.5):.2f} "
        f"p95 {pct(first, 0.95):.2f} s; last minute p50 {pct(last, 0.5):.2f} p95 {pct(last, 0.95):.2f} s; "
        f"all finals p95 {pct([x for _, x in stamps], 0.95):.2f} s (n={len(stamps)}); "
        f"first interim p95 {pct(ttfi, 0.95):.2f} s; peak RSS {rss_mb():.0f} MB"
    )
    await engine.aclose()


def load(manifest: Path | None) -> list[tuple[str, list[rtc.AudioFrame], float, str | None]]:
    if manifest is None:
        ref = (
            "And so, my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country."
        )
        d = decode_file(ROOT / "samples" / "jfk.flac")
        return [("jfk.flac", d.frames, d.duration, ref)]
    clips = []
    for line in manifest.read_text().splitlines():
        rec = json.loads(line)
        d = decode_file(manifest.parent / rec["file"])
        clips.append((rec["file"], d.frames, d.duration, rec.get("text")))
    return clips


def concat(
    clips: list[tuple[str, list[rtc.AudioFrame], float, str | None]], seconds: float
) -> list[rtc.AudioFrame]:
    """Clips end to end (1 s of silence between) until ``seconds`` of audio."""
    out: list[rtc.AudioFrame] = []
    total, i = 0.0, 0
    gap = [rtc.AudioFrame(bytes(640), 16000, 1, 320)] * 50
    while total < seconds:
        frames = clips[i % len(clips)][1]
        if frames[0].sample_rate != 16000:
            i += 1
            continue
        out += frames + gap
        total += clips[i % len(clips)][2] + 1.0
        i += 1
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, help="manifest.jsonl of real recordings with reference text")
    ap.add_argument("--streams", default="1,2,4", help="concurrency levels for real-time mode")
    ap.add_argument("--realtime-seconds", type=float, default=60.0, help="audio per real-time stream")
    ap.add_argument("--long", type=float, default=0.0, help="also run one long real-time stream (seconds)")
    ap.add_argument("--skip-file", action="store_true")
    args = ap.parse_args()
    clips = load(args.manifest)
    if not args.skip_file:
        await file_mode(clips)
    rt = concat(clips, args.realtime_seconds)
    rt_seconds = sum(f.samples_per_channel / f.sample_rate for f in rt)
    for n in (int(x) for x in args.streams.split(",") if x):
        await realtime_mode(rt, rt_seconds, n)
    if args.long:
        long_frames = concat(clips, args.long)
        await long_mode(long_frames, sum(f.samples_per_channel / f.sample_rate for f in long_frames))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
