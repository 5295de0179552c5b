"""Benchmark of the local provider through the speechkit core (not a test).

Prints, for real recordings (a manifest from ``bench/fetch_speech.sh``; without one the
bundled ``samples/jfk.flac``):

* accuracy, per file and per condition (orig 16 kHz, 8 kHz u-law, 10 dB white / pink
  noise, 48 kHz stereo): WER of
    - file mode: ``await engine.recognize(frames)``,
    - streaming mode: ``engine.stream()`` with the frames pushed as fast as it takes
      them (the finals joined),
    - the reference: faster-whisper's own ``WhisperModel.transcribe(audio16,
      language="en", beam_size=5, vad_filter=True)`` (no word timestamps) on the same
      weights and on the very 16 kHz samples file mode decoded: captured where the
      local provider receives them (after the stream core's down-mix and soxr
      resampling), so resampling differences cannot pass for engine differences (with
      another --config, livekit's resampler stands in: ``to_16k``);
    - with --ref-word-timestamps, also ``transcribe(..., word_timestamps=True)`` ("refwt"),
      what file mode used before issue 21;
  then corpus WER per condition and per kind of speech, RTF of each column, the two
  comparisons checked per file and counted per condition (file mode against transcribe():
  the same text, WER within 1.1x + 0.5 points; streaming within 1.5x file mode's WER on read
  speech, jfk's short sentences included), and where streaming finals meet (words split
  across two finals, words repeated at a boundary);
* real-time mode (paced at 1x) for 1, 2 and 4 concurrent streams: time to first interim
  and final latency (p50/p95, from the core's ``metrics_collected``), CPU seconds per
  audio second, peak RSS;
* optionally (--long SECONDS) one long real-time stream, comparing final latency in its
  first and last minute (a growing lag shows as a rise).

Only the public API is used (``speechkit.stt``, ``recognize``, ``stream``), so the figures
follow whatever the engine does behind it.

WER is :mod:`speechkit.wer`: jiwer over text normalised by Whisper's English normaliser (
numbers spelt out or in digits compare equal, "Mr." = "mister", British spellings; adjacent
digit-only words joined, since it joins "five five" but not "5 5") when it
is installed, else lower case without punctuation (``--normaliser basic``); the same
normaliser for the reference text and all three columns, and both figures go to --json.

Usage::

    bash bench/fetch_speech.sh /work/speechdata
    python bench/bench_local.py                                         # samples/jfk.flac
    python bench/bench_local.py --manifest /work/speechdata/manifest.jsonl --json wer.json
    python bench/bench_local.py --manifest /work/speechdata/manifest.jsonl --quick --skip-latency
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import logging
import math
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import stt as lk_stt

import speechkit
from speechkit.audio import decode_file, push_frames
from speechkit.metrics import SpeechkitSTTMetrics
from speechkit.text import normalise as normalise_basic  # lower case, no punctuation
from speechkit.wer import corpus_wer, english_normaliser, wer

ROOT = Path(__file__).resolve().parent.parent
E = lk_stt.SpeechEventType
CONDITIONS = ["orig", "mulaw8k", "noise10w", "noise10p", "stereo48k"]
READ_KINDS = {"read", "read-long", "speech"}
"""Kinds of speech whose streaming finals are held to 1.5x file mode's WER ("speech" is jfk:
short isolated sentences)."""
QUICK = [  # --quick: one clip of each kind, in every condition
    "jfk.wav",
    "two_cities.wav",
    "austen_0870.wav",
    "allison_demo_echotest.wav",
    "turns_mix.wav",
    "cards_005.wav",
]
SUFFIXES = {"s", "es", "ed", "ing", "ly", "ness", "est", "er", "ers", "ment", "ful", "less", "ity", "tion"}


# -- text ----------------------------------------------------------------------------


def whisper_normaliser() -> Callable[[str], str] | None:
    """Whisper's English normaliser (:func:`speechkit.wer.english_normaliser`), or None when
    the ``[compare]`` extra is not installed."""
    try:
        return english_normaliser()
    except speechkit.ConfigError:
        return None


def boundary_issues(finals: list[str], reference: str) -> list[str]:
    """Where streaming finals cut words badly: a reference word cut in two inside a final
    ("noisy est") or between two ("foolish" | "ness"), or the same words at the end of
    one final and the start of the next."""
    ref_norm = normalise_basic(reference)
    ref_words = set(ref_norm.split())
    out = []
    for f in finals:  # inside one final: a word emitted as two ("noisy est", "ill -sposed")
        raw = f.split()
        for a, b in itertools.pairwise(raw):
            na, nb = normalise_basic(a), normalise_basic(b)
            if b.startswith("-") or (na + nb in ref_words and not {na, nb} <= ref_words) or nb in SUFFIXES:
                out.append(f"split in a final: {a!r} {b!r}")
    for a, b in itertools.pairwise(finals):
        wa, wb = normalise_basic(a).split(), normalise_basic(b).split()
        if not wa or not wb:
            continue
        joined = wa[-1] + wb[0]
        if (joined in ref_words and not {wa[-1], wb[0]} <= ref_words) or wb[0] in SUFFIXES:
            out.append(f"split: {wa[-1]!r} | {wb[0]!r}")
        for k in range(min(len(wa), len(wb), 6), 0, -1):
            if wa[-k:] == wb[:k] and f" {' '.join(wb[:k] * 2)} " not in f" {ref_norm} ":
                out.append(f"repeat: {' '.join(wb[:k])!r} ends one final and starts the next")
                break
    return out


# -- audio -----------------------------------------------------------------------------


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
    """Mono 16 kHz float32 for the faster-whisper reference, made as the stream core makes
    its input: channels averaged to int16, then livekit's HIGH-quality resampler."""
    rate = frames[0].sample_rate
    mono = []
    for f in frames:
        pcm = np.frombuffer(f.data, np.int16).reshape(-1, f.num_channels)
        mono.append(pcm.mean(axis=1).astype(np.int16) if f.num_channels > 1 else pcm.reshape(-1))
    if rate == 16000:
        return np.concatenate(mono).astype(np.float32) / 32768
    r = rtc.AudioResampler(rate, 16000, num_channels=1, quality=rtc.AudioResamplerQuality.HIGH)
    out: list[np.ndarray] = []
    for m in mono:
        for fr in r.push(rtc.AudioFrame(m.tobytes(), rate, 1, len(m))):
            out.append(np.frombuffer(fr.data, np.int16))
    for fr in r.flush():
        out.append(np.frombuffer(fr.data, np.int16))
    return np.concatenate(out).astype(np.float32) / 32768


@dataclasses.dataclass
class Clip:
    file: str
    frames: list[rtc.AudioFrame]
    seconds: float
    text: str | None
    condition: str = "orig"
    base: str = ""
    kind: str = "other"


def load(
    manifest: Path | None, quick: bool, conditions: list[str] | None, kinds: list[str] | None = None
) -> list[Clip]:
    if manifest is None:
        ref = (
            "And so, my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country."
        )
        d = decode_file(ROOT / "samples" / "jfk.flac")
        return [Clip("jfk.flac", d.frames, d.duration, ref, "orig", "jfk.flac", "speech")]
    recs = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for r in recs:
        r.setdefault("condition", "orig")
        r.setdefault("base", r["file"])
    if quick:
        bases = [b for b in QUICK if any(r["base"] == b for r in recs)] or sorted({r["base"] for r in recs})[
            :4
        ]
        recs = [r for r in recs if r["base"] in bases]
    if conditions:
        recs = [r for r in recs if r["condition"] in conditions]
    if kinds:
        recs = [r for r in recs if r.get("kind", "other") in kinds]
    clips = []
    for r in recs:
        d = decode_file(manifest.parent / r["file"])
        clips.append(
            Clip(
                r["file"],
                d.frames,
                d.duration,
                r.get("text"),
                r["condition"],
                r["base"],
                r.get("kind", "other"),
            )
        )
    return clips


# -- the three columns ---------------------------------------------------------------------


async def run_stream(engine: speechkit.STT, frames: list[rtc.AudioFrame], realtime: bool) -> list[str]:
    """Streaming mode: the finals, in order."""
    stream = engine.stream()
    finals: list[str] = []
    feeder = asyncio.create_task(push_frames(stream, frames, speed=1.0 if realtime else None))
    try:
        async for ev in stream:
            if ev.type == E.FINAL_TRANSCRIPT and ev.alternatives:
                finals.append(ev.alternatives[0].text)
        await feeder
    finally:
        feeder.cancel()
        await stream.aclose()
    return finals


async def timed(coro: Any, limit: float) -> tuple[Any, float, bool]:
    """(result or None, seconds taken, timed out) of one recognition, cut off after ``limit``
    seconds so that one hung call is reported (as empty text) and the run goes on."""
    t0 = time.perf_counter()
    try:
        result = await asyncio.wait_for(coro, limit)
    except TimeoutError:
        return None, time.perf_counter() - t0, True
    return result, time.perf_counter() - t0, False


class FileInput:
    """The 16 kHz samples the local provider's file mode is given, captured where it receives
    them (``FileRecognizer.push``): the reference decodes exactly these."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.installed = False
        try:
            from speechkit_providers.local import batch
        except ImportError:
            return
        push = batch.FileRecognizer.push

        def spy(recognizer: Any, pcm: bytes) -> None:
            self.pieces.append(bytes(pcm))
            push(recognizer, pcm)

        batch.FileRecognizer.push = spy  # type: ignore[method-assign]
        self.installed = True

    def take(self) -> np.ndarray | None:
        """The samples captured since the last call (float32), or None when none were."""
        pieces, self.pieces = self.pieces, []
        if not pieces:
            return None
        return np.frombuffer(b"".join(pieces), "<i2").astype(np.float32) / 32768


class SampledWindows(logging.Handler):
    """Where file mode's decode fell back to sampling (temperature > 0): the local provider
    logs each such segment at DEBUG (``sampled_at``). A sampled window's text follows the RNG,
    so there file mode and the reference may differ without either being wrong."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.starts: list[float] = []
        logger = logging.getLogger("speechkit.local")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        at = getattr(record, "sampled_at", None)
        if at is not None:
            self.starts.append(float(at))

    def take(self) -> list[float]:
        starts, self.starts = self.starts, []
        return starts


async def run_file(engine: speechkit.STT, frames: list[rtc.AudioFrame]) -> str:
    """File mode: the STT's ``recognize()`` over the whole buffer."""
    ev = await engine.recognize(frames)
    return ev.alternatives[0].text if ev.alternatives else ""


def fmt_pct(x: float) -> str:
    return "   -  " if math.isnan(x) else f"{x:6.1%}"


def check(ok: bool | None) -> str:
    return "  -  " if ok is None else ("PASS " if ok else "FAIL ")


async def accuracy(clips: list[Clip], args: argparse.Namespace) -> dict[str, Any]:
    from faster_whisper import WhisperModel
    from speechkit_providers.local.models import resolve_model_path

    norm_w = whisper_normaliser()
    if args.normaliser == "whisper" and norm_w is None:
        print("(whisper-normalizer not installed: falling back to --normaliser basic)")
    norm = norm_w if args.normaliser == "whisper" and norm_w is not None else normalise_basic
    norm_name = "whisper" if norm is norm_w else "basic"

    engine = speechkit.stt(args.config)
    assert isinstance(engine, speechkit.STT)
    await run_stream(engine, clips[0].frames[:50], realtime=False)  # load the models outside timing
    await run_file(engine, clips[0].frames[:50])
    ref_model = WhisperModel(
        str(resolve_model_path(args.ref_model)), device="cpu", compute_type="int8", cpu_threads=2
    )
    captured = FileInput()
    sampled = SampledWindows()
    rows: list[dict[str, Any]] = []
    source = "the samples file mode decoded" if captured.installed else "to_16k (livekit's resampler)"
    print(
        f"accuracy: {args.config} (file = recognize(), stream = stream() pushed unpaced) vs "
        f"faster-whisper transcribe() on {args.ref_model}, on {source}; WER normaliser: {norm_name}"
    )
    head = (
        f"{'clip':<28}{'cond':<10}{'sec':>6} {'file':>6} {'stream':>6} {'ref':>6}"
        + (f" {'refwt':>6}" if args.ref_word_timestamps else "")
        + f" {'RTFf':>6}{'RTFs':>6}{'RTFr':>6}"
        + (f"{'RTFw':>6}" if args.ref_word_timestamps else "")
        + "  file  strm  tel  same"
    )
    print(head)
    for i, c in enumerate(clips):
        print(f"  [{i + 1}/{len(clips)}] {c.file}", file=sys.stderr, flush=True)
        runs_file: list[str] = []
        runs_stream: list[list[str]] = []
        t_file = t_stream = 0.0
        timeouts = []
        limit = args.timeout + c.seconds * args.timeout_rtf
        audio16: np.ndarray | None = None
        file_sampled: list[float] = []
        for _ in range(args.repeat):
            sampled.take()
            text, took, late = await timed(run_file(engine, c.frames), limit)
            got = captured.take()
            if audio16 is None:
                audio16, file_sampled = got, sampled.take()
            runs_file.append(text or "")
            t_file += took
            if late:
                timeouts.append("file")
                print(f"    file mode: no result after {limit:.0f} s (counted as empty)", file=sys.stderr)
            if args.skip_stream:
                runs_stream.append([])
                continue
            finals_run, took, late = await timed(run_stream(engine, c.frames, realtime=False), limit)
            runs_stream.append(finals_run or [])
            t_stream += took
            if late:
                timeouts.append("stream")
                print(f"    stream: no result after {limit:.0f} s (counted as empty)", file=sys.stderr)
        if audio16 is None:
            audio16 = to_16k(c.frames)
        t0 = time.perf_counter()
        segments, _ = ref_model.transcribe(audio16, language="en", beam_size=5, vad_filter=True)
        segments = list(segments)
        hyp_ref = " ".join(s.text.strip() for s in segments)
        t_ref = time.perf_counter() - t0
        ref_sampled = [round(s.start, 2) for s in segments if s.temperature > 0]
        hyp_refwt, t_refwt = "", float("nan")
        if args.ref_word_timestamps:
            t0 = time.perf_counter()
            segments, _ = ref_model.transcribe(
                audio16, language="en", beam_size=5, vad_filter=True, word_timestamps=True
            )
            hyp_refwt = " ".join(s.text.strip() for s in segments)
            t_refwt = time.perf_counter() - t0
        hyp_file, finals = runs_file[0], runs_stream[0]
        hyp_stream = " ".join(f for f in finals if f)
        row: dict[str, Any] = {
            "file": c.file,
            "base": c.base,
            "condition": c.condition,
            "kind": c.kind,
            "seconds": round(c.seconds, 3),
            "reference_text": c.text,
            "file_text": hyp_file,
            "stream_text": hyp_stream,
            "stream_finals": finals,
            "ref_text": hyp_ref,
            "refwt_text": hyp_refwt,
            "same_text": hyp_file == hyp_ref,
            "sampled_windows": {"file": [round(x, 2) for x in file_sampled], "ref": ref_sampled},
            "rtf_file": t_file / args.repeat / c.seconds,
            "rtf_stream": t_stream / args.repeat / c.seconds,
            "rtf_ref": t_ref / c.seconds,
            "rtf_refwt": t_refwt / c.seconds,
            "file_runs_differ": len(set(runs_file)) > 1,
            "stream_runs_differ": len({tuple(r) for r in runs_stream}) > 1,
            "boundary_issues": boundary_issues(finals, c.text or ""),
            "timeouts": timeouts,
        }
        for name, fn in (("", norm), ("_basic", normalise_basic)):
            ref_n = fn(c.text) if c.text is not None else ""
            for col, hyp in (
                ("file", hyp_file),
                ("stream", hyp_stream),
                ("ref", hyp_ref),
                ("refwt", hyp_refwt),
            ):
                have = c.text is not None and (col != "refwt" or args.ref_word_timestamps)
                have = have and (col != "stream" or not args.skip_stream)
                row[f"wer_{col}{name}"] = wer(ref_n, fn(hyp)) if have else float("nan")
        row["norm"] = {
            "reference": norm(c.text or ""),
            "file": norm(hyp_file),
            "stream": norm(hyp_stream),
            "ref": norm(hyp_ref),
            "refwt": norm(hyp_refwt),
        }
        rows.append(row)
    targets(rows)
    for row in rows:
        wt = args.ref_word_timestamps
        print(
            f"{row['base'][:27]:<28}{row['condition']:<10}{row['seconds']:6.1f} {fmt_pct(row['wer_file'])}"
            f" {fmt_pct(row['wer_stream'])} {fmt_pct(row['wer_ref'])}"
            + (f" {fmt_pct(row['wer_refwt'])}" if wt else "")
            + f" {row['rtf_file']:6.3f}{row['rtf_stream']:6.3f}{row['rtf_ref']:6.3f}"
            + (f"{row['rtf_refwt']:6.3f}" if wt else "")
            + f"  {check(row['pass_file'])} {check(row['pass_stream'])} {check(row['pass_telephone'])}"
            + (" same " if row["same_text"] else " DIFF ")
            + (
                f" sampled file@{row['sampled_windows']['file']} ref@{row['sampled_windows']['ref']}"
                if row["sampled_windows"]["file"] or row["sampled_windows"]["ref"]
                else ""
            )
            + (" runs differ" if row["file_runs_differ"] or row["stream_runs_differ"] else "")
            + (f" TIMEOUT {'+'.join(row['timeouts'])}" if row["timeouts"] else "")
        )
    corpus = summary(rows, args.repeat)
    await engine.aclose()
    return {
        "config": args.config,
        "ref_model": args.ref_model,
        "normaliser": norm_name,
        "rows": rows,
        "corpus": corpus,
    }


def targets(rows: list[dict[str, Any]]) -> None:
    """Per file: file mode is transcribe()'s text (the same text, or WER <= 1.1 x ref WER + 0.5
    points where a sampled window or the like made them differ; every file); streaming <= 1.5 x
    file mode's WER (read speech, jfk included: issue 21); 8 kHz u-law file mode <= the 16 kHz
    orig + 2 points (the same base clip)."""
    orig = {r["base"]: r for r in rows if r["condition"] == "orig"}
    for r in rows:
        have = not math.isnan(r["wer_ref"])
        hung = r.get("timeouts", [])
        r["pass_file"] = (
            (r["same_text"] or r["wer_file"] <= 1.1 * r["wer_ref"] + 0.005 + 1e-9) and "file" not in hung
            if have
            else None
        )
        r["pass_stream"] = (
            r["wer_stream"] <= 1.5 * r["wer_file"] + 1e-9 and "stream" not in hung
            if have and r["kind"] in READ_KINDS and not math.isnan(r["wer_stream"])
            else None
        )
        o = orig.get(r["base"])
        r["pass_telephone"] = (
            r["wer_file"] <= o["wer_file"] + 0.02 + 1e-9
            if r["condition"] == "mulaw8k" and o is not None and have
            else None
        )
        r["telephone_stream_ok"] = (
            r["wer_stream"] <= o["wer_stream"] + 0.02 + 1e-9
            if r["condition"] == "mulaw8k" and o is not None and not math.isnan(r["wer_stream"])
            else None
        )


def summary(rows: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["reference_text"] is None:
            continue
        groups.setdefault(f"condition={r['condition']}", []).append(r)
        groups.setdefault(f"kind={r['kind']}", []).append(r)
        groups.setdefault("all", []).append(r)
    order = (
        [f"condition={c}" for c in CONDITIONS] + sorted(g for g in groups if g.startswith("kind=")) + ["all"]
    )
    nan = float("nan")
    cols = ["file", "stream", "ref"] + (
        ["refwt"] if any(not math.isnan(r["wer_refwt"]) for r in rows) else []
    )
    print(
        "\ncorpus WER (jiwer over all words of the group), RTF, "
        "files whose file-mode text is transcribe()'s\n"
        + " " * 46
        + " ".join(f"{c:>6}" for c in cols)
        + " | "
        + " ".join(f"{c:>6}" for c in cols)
        + " | same"
    )
    for g in order:
        rs = groups.get(g)
        if not rs:
            continue
        refs = [r["norm"]["reference"] for r in rs]
        secs = sum(r["seconds"] for r in rs)
        w = {
            col: corpus_wer(refs, [r["norm"][col] for r in rs])
            if not math.isnan(rs[0][f"wer_{col}"])
            else nan
            for col in cols
        }
        rtf = {col: sum(r[f"rtf_{col}"] * r["seconds"] for r in rs) / secs for col in cols}
        same = sum(bool(r["same_text"]) for r in rs)
        out[g] = {"files": len(rs), "seconds": round(secs, 1), "wer": w, "rtf": rtf, "same_text": same}
        print(
            f"  {g:<26}{len(rs):>4} files {secs:7.1f} s  "
            + " ".join(fmt_pct(w[col]) for col in cols)
            + " | "
            + " ".join(f"{rtf[col]:6.3f}" for col in cols)
            + f" | {same:>3}/{len(rs)}"
        )
    # the targets, counted
    print("\ntargets (per file; per condition: passed/judged)")
    for key, what in (
        ("pass_file", "file mode = transcribe() (same text, or WER <= 1.1 x + 0.5 points), every file"),
        ("pass_stream", "streaming <= 1.5 x file mode's WER, read speech (jfk included)"),
        ("pass_telephone", "8 kHz u-law file mode <= 16 kHz file mode + 2 points"),
    ):
        judged = [r for r in rows if r[key] is not None]
        fails = [r for r in judged if not r[key]]
        by_cond = {
            cond: (sum(bool(r[key]) for r in judged if r["condition"] == cond), n)
            for cond in CONDITIONS
            if (n := sum(r["condition"] == cond for r in judged))
        }
        out[key] = {
            "judged": len(judged),
            "failed": [f"{r['base']}@{r['condition']}" for r in fails],
            "by_condition": by_cond,
        }
        verdict = "PASS" if judged and not fails else ("FAIL" if fails else "n/a")
        print(f"  {verdict}  {what}: {len(judged) - len(fails)}/{len(judged)} files")
        if by_cond:
            print("        " + ", ".join(f"{cond} {p}/{n}" for cond, (p, n) in by_cond.items()))
        for r in fails[:40]:
            extra = ""
            if key == "pass_telephone":
                o = next(x for x in rows if x["base"] == r["base"] and x["condition"] == "orig")
                extra = f" (16 kHz: file {o['wer_file']:.1%}, ref {o['wer_ref']:.1%})"
            print(
                f"        {r['base']}@{r['condition']}: "
                f"file {r['wer_file']:.1%} stream {r['wer_stream']:.1%} "
                f"ref {r['wer_ref']:.1%}{extra}"
            )
    tel = [r for r in rows if r["telephone_stream_ok"] is not None]
    print(
        "  (streaming, same telephone check: "
        f"{sum(bool(r['telephone_stream_ok']) for r in tel)}/{len(tel)} files)"
    )
    differ = [r for r in rows if r["file_runs_differ"] or r["stream_runs_differ"]]
    if repeat > 1:
        print(f"  files whose text differs between the {repeat} runs (--repeat): {len(differ)}")
        for r in differ:
            print(f"        {r['file']}: file {r['file_runs_differ']}, stream {r['stream_runs_differ']}")
    late = [f"{r['file']} ({'+'.join(r['timeouts'])})" for r in rows if r.get("timeouts")]
    out["timeouts"] = late
    if late:
        print(f"  recognitions that never returned (counted as empty text): {len(late)}: {', '.join(late)}")
    issues = [(r["file"], i) for r in rows for i in r["boundary_issues"]]
    print(f"\nstreaming finals: boundary issues (split words, repeats): {len(issues)}")
    for f, i in issues[:60]:
        print(f"  {f}: {i}")
    return out


# -- latency (unchanged) ----------------------------------------------------------------


def collect(engine: speechkit.STT) -> list[SpeechkitSTTMetrics]:
    seen: list[SpeechkitSTTMetrics] = []
    engine.on("metrics_collected", lambda m: seen.append(m) if isinstance(m, SpeechkitSTTMetrics) else None)
    return seen


async def realtime_mode(
    config: str, frames: list[rtc.AudioFrame], seconds: float, concurrency: int
) -> dict[str, Any]:
    engine = speechkit.stt(config)
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
    return {
        "streams": concurrency,
        "seconds": seconds,
        "cpu_per_audio_s": cpu / (seconds * concurrency),
        "first_interim_p50": pct(ttfi, 0.5),
        "first_interim_p95": pct(ttfi, 0.95),
        "final_p50": pct(final, 0.5),
        "final_p95": pct(final, 0.95),
        "peak_rss_mb": rss_mb(),
    }


async def long_mode(config: str, frames: list[rtc.AudioFrame], seconds: float) -> None:
    engine = speechkit.stt(config)
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


def concat(clips: list[Clip], seconds: float) -> list[rtc.AudioFrame]:
    """The 16 kHz orig clips end to end (1 s of silence between) until ``seconds`` of audio."""
    usable = [c for c in clips if c.condition == "orig" and c.frames[0].sample_rate == 16000]
    usable = [c for c in usable if c.frames[0].num_channels == 1] or usable
    out: list[rtc.AudioFrame] = []
    total, i = 0.0, 0
    gap = [rtc.AudioFrame(bytes(640), 16000, 1, 320)] * 50
    while total < seconds and usable:
        c = usable[i % len(usable)]
        out += c.frames + gap
        total += c.seconds + 1.0
        i += 1
    return out


def jsonable(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [jsonable(v) for v in x]
    return x


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, help="manifest.jsonl of real recordings with reference text")
    ap.add_argument(
        "--config", default="local", help="speechkit config string of the engine (default: local)"
    )
    ap.add_argument(
        "--ref-model", default="tiny.en", help="weights of the faster-whisper reference (resolve_model_path)"
    )
    ap.add_argument("--normaliser", choices=["whisper", "basic"], default="whisper")
    ap.add_argument("--quick", action="store_true", help=f"only {len(QUICK)} base clips (in every condition)")
    ap.add_argument("--conditions", help=f"comma-separated subset of {','.join(CONDITIONS)}")
    ap.add_argument("--kinds", help="comma-separated kinds of speech to keep (read,read-long,speech,...)")
    ap.add_argument(
        "--ref-word-timestamps",
        action="store_true",
        help="also run transcribe(word_timestamps=True) (column refwt: WER and RTF)",
    )
    ap.add_argument("--skip-stream", action="store_true", help="accuracy of file mode and the reference only")
    ap.add_argument(
        "--repeat", type=int, default=1, help="run file and streaming mode N times; report differences"
    )
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds a recognition may take, plus...")
    ap.add_argument("--timeout-rtf", type=float, default=0.5, help="...this many per second of audio")
    ap.add_argument("--json", type=Path, help="write the rows, corpus figures and latencies here")
    ap.add_argument("--streams", default="1,2,4", help="concurrency levels for real-time mode")
    ap.add_argument("--realtime-seconds", type=float, default=60.0, help="audio per real-time stream")
    ap.add_argument("--long", type=float, default=0.0, help="also run one long real-time stream (seconds)")
    ap.add_argument("--skip-file", "--skip-accuracy", dest="skip_file", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    conditions = [c for c in (args.conditions or "").split(",") if c] or None
    kinds = [k for k in (args.kinds or "").split(",") if k] or None
    clips = load(args.manifest, args.quick, conditions, kinds)
    report: dict[str, Any] = {"manifest": str(args.manifest) if args.manifest else None}
    if not args.skip_file:
        report["accuracy"] = await accuracy(clips, args)
    if not args.skip_latency:
        if conditions and "orig" not in conditions:
            clips += load(args.manifest, args.quick, ["orig"])
        rt = concat(clips, args.realtime_seconds)
        rt_seconds = sum(f.samples_per_channel / f.sample_rate for f in rt)
        print()
        report["latency"] = [
            await realtime_mode(args.config, rt, rt_seconds, n)
            for n in (int(x) for x in args.streams.split(",") if x)
        ]
        if args.long:
            long_frames = concat(clips, args.long)
            await long_mode(
                args.config, long_frames, sum(f.samples_per_channel / f.sample_rate for f in long_frames)
            )
    if args.json:
        args.json.write_text(json.dumps(jsonable(report), indent=1) + "\n")
        print(f"\nrows -> {args.json}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
