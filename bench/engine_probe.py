"""Measure the local streaming engine on a wav: file-mode RTF, real-time latencies, WER.

Usage::

    PYTHONPATH=/work/main:/work/main/providers python bench/engine_probe.py AUDIO.wav \
        [--ref "reference text" | --ref-file REF.txt] [--mode file|realtime|both]
    PYTHONPATH=... python bench/engine_probe.py --manifest /work/speechdata/manifest.jsonl \
        [--limit N]     # file mode over every entry, WER aggregated

File mode pushes the whole file as fast as possible (20 ms chunks, yielding to
the loop every 50 chunks), then ``end_input``; RTF = wall time to ``Finished``
over audio duration (model load excluded, reported separately).
Real-time mode paces 20 ms chunks at 1x; latencies are wall time of an event
minus the wall time the audio it refers to was pushed:

* first interim: first interim after each ``SpeechStarted`` vs. its onset,
* final: each final vs. the ``SpeechEnded`` time that follows it (end of speech).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import pathlib
import re
import statistics
import sys
import time
import wave

import jiwer
import numpy as np
from speechkit_providers.local.models import SharedModel, resolve_model_path
from speechkit_providers.local.recognizer import StreamingRecognizer

from speechkit.events import Finished, SpeechEnded, SpeechStarted, Transcript
from speechkit.text import normalise

CHUNK = 320  # samples (20 ms)


def load_wav(path: pathlib.Path) -> bytes:
    """Read 16 kHz mono s16le wav bytes (convert other files with sox/ffmpeg first)."""
    with wave.open(str(path), "rb") as w:
        if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            import av  # resample anything else

            container = av.open(str(path))
            resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
            out = bytearray()
            for frame in container.decode(audio=0):
                for f in resampler.resample(frame):
                    out += f.to_ndarray().tobytes()
            return bytes(out)
        return w.readframes(w.getnframes())


_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _spell(match: re.Match[str]) -> str:
    """Spell 0-99 as words (Whisper writes digits, references usually words)."""
    n = int(match.group())
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return match.group()


def normalize(text: str) -> str:
    """Lower-case, spell small numbers, then :func:`speechkit.text.normalise` (punctuation dropped,
    apostrophes kept, spaces squeezed)."""
    return normalise(re.sub(r"\b\d{1,2}\b", _spell, text.lower()))


def wer(ref: str, hyp: str) -> float:
    """Word error rate after :func:`normalize`."""
    return float(jiwer.wer(normalize(ref), normalize(hyp) or "<empty>"))


async def run_file(model: SharedModel, pcm: bytes, interim: bool) -> tuple[float, str, int, int]:
    """Push as fast as possible; return (wall seconds, final text, finals, interims)."""
    rec = StreamingRecognizer(model, interim_results=interim)
    finals: list[str] = []
    interims = 0
    t0 = time.perf_counter()

    async def feed() -> None:
        for i, off in enumerate(range(0, len(pcm), CHUNK * 2)):
            rec.push(pcm[off : off + CHUNK * 2])
            if i % 50 == 0:
                await asyncio.sleep(0)
        rec.end_input()

    feeder = asyncio.create_task(feed())
    async for ev in rec.events():
        if isinstance(ev, Transcript):
            if ev.is_final:
                finals.append(ev.text)
            else:
                interims += 1
    await feeder
    wall = time.perf_counter() - t0
    await rec.aclose()
    return wall, " ".join(finals), len(finals), interims


async def run_realtime(model: SharedModel, pcm: bytes) -> dict[str, object]:
    """Pace audio at 1x and measure latencies."""
    rec = StreamingRecognizer(model)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    first_interim: list[float] = []
    final_lat: list[float] = []
    finals: list[str] = []
    onset: float | None = None
    pending_final: float | None = None
    close_lag: list[float] = []
    last_end: float | None = None
    continuations = 0

    async def feed() -> None:
        for i, off in enumerate(range(0, len(pcm), CHUNK * 2)):
            target = t0 + (i + 1) * CHUNK / 16000  # chunk i is fully pushed at this time
            delay = target - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                close_lag.append(-delay)
            rec.push(pcm[off : off + CHUNK * 2])
        rec.end_input()

    feeder = asyncio.create_task(feed())
    async for ev in rec.events():
        now = loop.time()
        if isinstance(ev, SpeechStarted):
            onset = ev.time
            if ev.time is not None and ev.time == last_end:
                # A max_utterance split: speech never paused, so no onset latency.
                onset = None
                continuations += 1
                if final_lat:
                    final_lat.pop()  # nor an end-of-utterance latency
        elif isinstance(ev, Transcript) and not ev.is_final:
            if onset is not None:
                first_interim.append(now - (t0 + onset))
                onset = None
        elif isinstance(ev, Transcript):
            finals.append(ev.text)
            pending_final = now
        elif isinstance(ev, SpeechEnded):
            if pending_final is not None and ev.time is not None:
                final_lat.append(pending_final - (t0 + ev.time))
            pending_final = None
            last_end = ev.time
            onset = None
        elif isinstance(ev, Finished):
            break
    await feeder
    await rec.aclose()
    # The last final comes after end_input, possibly before min_silence passed: drop it.
    third = max(1, len(final_lat) // 3)
    return {
        "text": " ".join(finals),
        "first_interim": first_interim,
        "final": final_lat[:-1] if len(final_lat) > 1 else final_lat,
        "final_first_third_mean": statistics.mean(final_lat[:third]) if final_lat else None,
        "final_last_third_mean": statistics.mean(final_lat[-third:]) if final_lat else None,
        "feeder_max_lateness": max(close_lag, default=0.0),
        "continuations": continuations,
    }


def pct(values: list[float], q: float) -> float:
    """q-quantile (0-1) of ``values`` (nearest rank)."""
    if not values:
        return float("nan")
    return float(np.quantile(np.asarray(values), q, method="nearest"))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("audio", nargs="?", type=pathlib.Path)
    parser.add_argument("--ref")
    parser.add_argument("--ref-file", type=pathlib.Path)
    parser.add_argument("--mode", choices=("file", "realtime", "both"), default="both")
    parser.add_argument("--manifest", type=pathlib.Path)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--no-interims", action="store_true", help="file mode with interim_results=False")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)

    t = time.perf_counter()
    model = SharedModel.get(resolve_model_path(args.model))
    print(f"model load {time.perf_counter() - t:.2f} s")
    await run_file(
        model,
        np.zeros(8000, dtype="<i2").tobytes()
        + (np.random.default_rng(0).normal(0, 3000, 16000)).astype("<i2").tobytes(),
        False,
    )  # warm-up

    if args.manifest:
        entries = [json.loads(line) for line in args.manifest.read_text().splitlines() if line.strip()]
        if args.limit:
            entries = entries[: args.limit]
        refs, hyps, audio_s, wall_s = [], [], 0.0, 0.0
        for e in entries:
            path = pathlib.Path(e["file"])
            if not path.is_absolute():
                path = args.manifest.parent / path
            pcm = load_wav(path)
            wall, text, _, _ = await run_file(model, pcm, not args.no_interims)
            audio_s += len(pcm) / 32000
            wall_s += wall
            refs.append(normalize(e["text"]))
            hyps.append(normalize(text) or "<empty>")
            if args.verbose:
                print(
                    f"  {path.name}: WER {wer(e['text'], text):.0%} "
                    f"RTF {wall / (len(pcm) / 32000):.2f} | {text}"
                )
        print(
            f"manifest {len(entries)} files, {audio_s:.1f} s audio: RTF {wall_s / audio_s:.3f}, "
            f"WER {jiwer.wer(refs, hyps):.3%}"
        )
        return

    if args.audio is None:
        parser.error("give AUDIO or --manifest")
    pcm = load_wav(args.audio)
    dur = len(pcm) / 32000
    ref = args.ref or (args.ref_file.read_text() if args.ref_file else None)
    print(f"audio {args.audio} {dur:.1f} s")
    if args.mode in ("file", "both"):
        wall, text, nf, ni = await run_file(model, pcm, not args.no_interims)
        print(
            f"file: wall {wall:.2f} s RTF {wall / dur:.3f} finals {nf} interims {ni}"
            + (f" WER {wer(ref, text):.3%}" if ref else "")
        )
        if args.verbose:
            print("  ", text)
    if args.mode in ("realtime", "both"):
        r = await run_realtime(model, pcm)
        fi, fl = r["first_interim"], r["final"]
        assert isinstance(fi, list) and isinstance(fl, list)
        print(
            f"realtime: first-interim p50 {pct(fi, 0.5):.2f} p95 {pct(fi, 0.95):.2f} "
            f"max {max(fi, default=float('nan')):.2f} (n={len(fi)}); "
            f"final p50 {pct(fl, 0.5):.2f} p95 {pct(fl, 0.95):.2f} "
            f"max {max(fl, default=float('nan')):.2f} (n={len(fl)}); "
            f"final mean first/last third "
            f"{r['final_first_third_mean']:.2f}/{r['final_last_third_mean']:.2f}; "
            f"feeder lateness max {r['feeder_max_lateness']:.3f} s; "
            f"max_utterance splits {r['continuations']}"
            + (f"; WER {wer(ref, str(r['text'])):.3%}" if ref else "")
        )
        if args.verbose:
            print("  ", r["text"])


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
