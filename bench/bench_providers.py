"""Cost per stream, added latency and scale: speechkit's providers next to LiveKit's plugins, on the
same emulators, in one run (issue 11; the local provider is ``bench/bench_local.py``). Not a test.

Per provider (telnyx, speechmatics, assemblyai), the emulator runs in its own process with the
oracle recognizer and its send log on (``Emulator.log_sends``). Per scenario (implementation x
provider x concurrent streams) a fresh worker process opens the streams (spread over the first
second), pushes 20 ms frames of 48 kHz oracle audio to each, paced at real time by one shared clock
(every stream resamples to 16 kHz), calls ``end_input()`` and reads every event. The worker reports
its CPU time, its RSS before the streams and its peak RSS, how late the pacing clock ran, and every
event with its ``time.monotonic()``; the parent matches each transcript event to the emulator's
send time of the message it came from (same machine, same clock) and checks that every stream's
finals hold exactly its oracle words (``words_ok``). Each stream says a word set of its own first,
which is how its emulator session is found.

Figures: client CPU seconds per audio second, peak RSS per stream (sampled while the streams run),
added latency p50/p95/p99
(emulator send -> event out of the stream's async iterator, interims and finals), drain time
(``end_input()`` -> the iterator ends; median), ratios ours/theirs; then the scale limit: the
largest stream count with p99 under 50 ms, the pacing clock never over 100 ms late and every
stream's words right.

Reference plugins: ``livekit-plugins-telnyx`` and ``-assemblyai`` 1.8.9 (the ``conformance``
extra) and ``livekit-plugins-speechmatics`` 1.4.1, the last release on the RT v2 client
(``speechmatics-rt``); 1.4.2 on goes through ``speechmatics-voice``. All three are pinned in the
``conformance`` extra (their pins fit ours); ``--ref-python`` runs "theirs" with another venv's
interpreter. A reference that is not installed is reported as
unavailable, not measured.

Usage::

    python bench/bench_providers.py                          # 1, 10, 100, 500, 1000 streams
    python bench/bench_providers.py --quick --json rows.json # 1 and 10 streams, under 2 minutes
    python bench/bench_providers.py --providers telnyx --impls ours --streams 1 --seconds 3
    SPEECHKIT_BENCH_PROFILE=DIR python bench/bench_providers.py ...  # cProfile each worker to DIR
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

PROVIDERS = ("telnyx", "speechmatics", "assemblyai")
IMPLS = ("ours", "theirs")
RATE_IN, RATE = 48000, 16000
FRAME = RATE_IN // 50  # 20 ms, as WebRTC delivers
P99_BOUND_MS, LAG_BOUND_MS = 50.0, 100.0
EXTRA_PAUSE_S = 0.3
IDLE_S = 10.0  # the Telnyx emulator's idle close after the last audio
RAMP_PER_S = 250  # streams opened per second at most
THEIRS = {
    "telnyx": "livekit-plugins-telnyx 1.8.9",
    "speechmatics": "livekit-plugins-speechmatics 1.4.1",
    "assemblyai": "livekit-plugins-assemblyai 1.8.9",
}
_MODULES = {
    "telnyx": "livekit.plugins.telnyx",
    "speechmatics": "livekit.plugins.speechmatics",
    "assemblyai": "livekit.plugins.assemblyai",
}

# -- audio: who says what ---------------------------------------------------------------------


def _vocabulary() -> tuple[str, ...]:
    from speechkit_conformance.oracle import VOCABULARY

    return VOCABULARY


def tail_words() -> tuple[str, ...]:
    """Words every stream says after its own ones (never part of an identifying set)."""
    return _vocabulary()[:5]


def id_words(i: int) -> tuple[str, ...]:
    """Stream ``i``'s own three words (1140 distinct sets): the first utterance it says."""
    voc = _vocabulary()[5:]
    combo = next(itertools.islice(itertools.combinations(range(len(voc)), 3), i, None))
    return tuple(voc[j] for j in combo)


def tail_utterances(seconds: float) -> list[tuple[str, ...]]:
    """Two-word utterances that fill ``seconds`` after the identifying one (1.2 s each)."""
    words = tail_words()
    n = max(1, math.ceil((seconds - 1.54) / 1.2))
    return [(words[k % 5], words[(k + 1) % 5]) for k in range(n)]


def speech(utterances: list[tuple[str, ...]], rate: int, *, lead: float) -> Any:
    """Oracle PCM with :data:`EXTRA_PAUSE_S` more silence after each utterance than the oracle's
    own pause, so each one ends with a pause longer than every endpointing (0.5 s) and its final
    comes while audio still flows, as in a conversation."""
    import numpy as np
    from speechkit_conformance.oracle import synthesize

    extra = np.zeros(round(EXTRA_PAUSE_S * rate), dtype=np.int16)
    parts = [synthesize([u], rate, lead=lead if k == 0 else 0.0) for k, u in enumerate(utterances)]
    return np.concatenate([x for part in parts for x in (part, extra)])


def expected_words(i: int, seconds: float) -> list[str]:
    return list(id_words(i)) + [w for u in tail_utterances(seconds) for w in u]


# -- the emulator process ---------------------------------------------------------------------


def make_emulator(provider: str) -> Any:
    """The provider's emulator (oracle recognizer) with its send log on; the same for both."""
    if provider == "telnyx":
        from speechkit_conformance.emulators.telnyx import TelnyxConfig, TelnyxEmulator

        # closes after the last final: LiveKit's plugin sends no CloseStream and waits for the close;
        # only after IDLE_S without audio: the service's idle rule is undocumented
        # (docs/protocols/telnyx.md §4.8, Deepgram's 10 s the nearest analogy) and a 1 s rule
        # closed sessions of clients that fell behind under load, which the real service is not
        # known to do
        config = TelnyxConfig(end_of_stream="close_after_final", final_after=IDLE_S)
        return TelnyxEmulator(config).log_sends()
    if provider == "speechmatics":
        from speechkit_conformance.emulators.speechmatics import SpeechmaticsEmulator

        return SpeechmaticsEmulator().log_sends()
    from speechkit_conformance.emulators.assemblyai import AssemblyAIEmulator

    return AssemblyAIEmulator().log_sends()


async def serve_emulator(provider: str) -> None:
    emu = make_emulator(provider)
    async with emu:
        print(json.dumps({"url": emu.url, "api_key": emu.api_key, "port": emu.port}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent goes


def pin(pid: int, cpu: int | None) -> None:
    """Run ``pid`` on CPU ``cpu`` only (None: anywhere), as ``taskset -p`` would."""
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})


class EmulatorProcess:
    def __init__(self, provider: str, cpu: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--emulator", provider],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        pin(self.proc.pid, cpu)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.url, self.api_key, self.port = info["url"], info["api_key"], info["port"]

    def send_log(self) -> list[tuple[int, float, str]]:
        """The emulator's send log since the last call (emptied)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_send_log?clear=1", timeout=60) as r:
            return [tuple(x) for x in json.load(r)]  # type: ignore[misc]

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- the worker process: N streams of one implementation --------------------------------------


def make_engine(impl: str, provider: str, url: str, api_key: str, http: Any) -> Any:
    """speechkit's STT or LiveKit's plugin STT for ``provider``, pointed at the emulator."""
    if impl == "ours":
        import speechkit

        if provider == "telnyx":
            from speechkit_providers.telnyx import TelnyxOptions, TelnyxProvider

            return speechkit.STT(TelnyxProvider(TelnyxOptions(base_url=url, api_key=api_key)))
        if provider == "speechmatics":
            from speechkit_providers.speechmatics import SpeechmaticsOptions, SpeechmaticsProvider

            return speechkit.STT(SpeechmaticsProvider(SpeechmaticsOptions(base_url=url, api_key=api_key)))
        from speechkit_providers.assemblyai import AssemblyAIOptions, AssemblyAIProvider

        return speechkit.STT(AssemblyAIProvider(AssemblyAIOptions(base_url=url, api_key=api_key)))
    if provider == "telnyx":
        from livekit.plugins import telnyx

        path = "/v2/speech-to-text/transcription"
        return telnyx.STT(api_key=api_key, base_url=url + path, http_session=http, sample_rate=RATE)
    if provider == "speechmatics":
        from livekit.plugins import speechmatics

        # max_delay as ours (the plugin's default is 1.0 s); partials on, 0.5 s end of utterance
        return speechmatics.STT(api_key=api_key, base_url=url, max_delay=0.7, sample_rate=RATE)
    from livekit.plugins import assemblyai

    return assemblyai.STT(
        api_key=api_key,
        base_url=url,
        http_session=http,
        model="universal-streaming-english",
        sample_rate=RATE,
    )


def _rss_kb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario; returns the figures and every stream's events (see :func:`summarise`)."""
    import logging

    import aiohttp
    import numpy as np
    from livekit import rtc
    from livekit.agents import APIConnectOptions, stt

    logging.basicConfig(level=logging.CRITICAL)
    impl, provider, n, seconds = spec["impl"], spec["provider"], spec["streams"], spec["seconds"]
    # audio: per stream its three words, then the shared tail; whole 100 ms (whole 50 ms chunks at
    # 16 kHz, so AssemblyAI's strict chunk check passes LiveKit's plugin, which sends its tail as is)
    tail = speech(tail_utterances(seconds), RATE_IN, lead=0.0)
    head_len = len(speech([id_words(0)], RATE_IN, lead=0.1))
    cut = -head_len % FRAME
    rest = tail[cut:]
    rest = np.pad(rest, (0, -(head_len + cut + len(rest)) % (RATE_IN // 10)))

    def frames(pcm: Any) -> list[Any]:
        return [
            rtc.AudioFrame(pcm[k : k + FRAME].tobytes(), RATE_IN, 1, FRAME) for k in range(0, len(pcm), FRAME)
        ]

    shared = frames(rest)
    heads = [frames(np.concatenate([speech([id_words(i)], RATE_IN, lead=0.1), tail[:cut]])) for i in range(n)]
    per_stream = len(heads[0]) + len(shared)
    duration = per_stream * FRAME / RATE_IN
    # streams open over the first second, or at RAMP_PER_S a second when more (a worker is not
    # handed 1,000 calls in one second; the handshakes alone would starve the open streams)
    ramp = max(50, math.ceil(50 * n / RAMP_PER_S))
    offsets = [(i * ramp) // n for i in range(n)]

    # uncapped, as speechkit's own: aiohttp's default of 100 connections made LiveKit's Telnyx
    # plugin fail 900 of 1,000 connects (livekit's own http_context caps at 50 per host)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    engine = make_engine(impl, provider, spec["url"], spec["api_key"], http)
    opts = APIConnectOptions(max_retry=0, timeout=30.0)
    events: list[list[tuple[int, str, float]]] = [[] for _ in range(n)]
    ended: list[float] = [0.0] * n
    done: list[float] = [0.0] * n
    errors: list[str] = []
    dead: set[int] = set()
    streams: list[Any] = [None] * n
    readers: list[asyncio.Task[None]] = []
    transcript = {stt.SpeechEventType.INTERIM_TRANSCRIPT: 1, stt.SpeechEventType.FINAL_TRANSCRIPT: 2}

    async def read(i: int) -> None:
        out = events[i]
        try:
            async for ev in streams[i]:
                kind = transcript.get(ev.type)
                if kind and ev.alternatives:
                    out.append((kind, ev.alternatives[0].text, time.monotonic()))
        except Exception as e:  # reported per stream
            errors.insert(0, f"stream {i}: {type(e).__name__}: {e}")
        done[i] = time.monotonic()

    rss0, cpu0 = _rss_kb(), _cpu()
    peak = rss0
    backlog = 0.0
    replay = 0.0  # mean seconds a stream keeps for replay (no final covers them yet), the peak
    t0 = time.monotonic() + 0.05
    lags: list[float] = []
    last = max(offsets) + per_stream
    for k in range(last + 1):
        due = t0 + k * FRAME / RATE_IN
        now = time.monotonic()
        # a tick behind still yields: a driver that pushes without awaiting while it catches up
        # starves every stream's sender (a WebRTC track hands frames over through the loop)
        await asyncio.sleep(max(0.0, due - now))
        lags.append(time.monotonic() - due)
        if k % 25 == 0:  # RSS twice a second: the peak while the streams run, not the setup's
            peak = max(peak, _rss_kb())
            if impl == "ours":  # audio pushed that no chunk has carried to the wire yet
                held = [s.unconfirmed_seconds for s in streams if s is not None]
                replay = max(replay, sum(held) / max(1, len(held)))
                for i, s in enumerate(streams):
                    if s is not None and (j := min(k - offsets[i], per_stream)) > 0:
                        backlog = max(backlog, j * FRAME / RATE_IN - s.sent_seconds)
        for i in range(n):
            j = k - offsets[i]
            if j < 0:
                continue
            if j == 0:
                streams[i] = engine.stream(conn_options=opts)
                readers.append(asyncio.create_task(read(i)))
            if i in dead:
                continue
            try:
                if j < per_stream:
                    head = heads[i]
                    streams[i].push_frame(head[j] if j < len(head) else shared[j - len(head)])
                elif j == per_stream:
                    streams[i].end_input()
                    ended[i] = time.monotonic()
            except RuntimeError as e:  # the stream closed under us (it failed): counted, not fatal
                dead.add(i)
                errors.append(f"stream {i}: push: {e}")
    try:
        async with asyncio.timeout(60 + 0.05 * n):
            await asyncio.gather(*readers)
    except TimeoutError:
        errors.append("timed out draining")
    cpu = _cpu() - cpu0
    wall = time.monotonic() - t0
    peak = max(peak, _rss_kb())
    for s in streams:
        with contextlib.suppress(Exception):
            await s.aclose()
    with contextlib.suppress(Exception):
        await engine.aclose()
    await http.close()
    lags_ms = sorted(x * 1000 for x in lags)
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "backlog_s": backlog if impl == "ours" else None,
        "replay_kb": replay * RATE * 2 / 1024 if impl == "ours" else None,
        "audio_s": n * duration,
        "rss_base_kb": rss0,
        "rss_peak_kb": peak,
        "lag_max_ms": lags_ms[-1],
        "lag_p99_ms": lags_ms[int(0.99 * (len(lags_ms) - 1))],
        "events": events,
        "ended": ended,
        "done": done,
        "errors": errors[:20],
        "n_errors": len(errors),
    }


def run_scenario(
    impl: str,
    provider: str,
    n: int,
    seconds: float,
    emu: EmulatorProcess,
    python: str,
    cpu: int | None = None,
) -> dict[str, Any]:
    spec = {
        "impl": impl,
        "provider": provider,
        "streams": n,
        "seconds": seconds,
        "url": emu.url,
        "api_key": emu.api_key,
    }
    emu.send_log()  # drop anything left over
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        ecpu0 = emu.cpu()
        worker = subprocess.Popen(
            [python, __file__, "--worker", json.dumps(spec), "--out", out.name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        pin(worker.pid, cpu)
        _, stderr = worker.communicate(timeout=900)
        proc = subprocess.CompletedProcess(worker.args, worker.returncode, "", stderr)
        ecpu = emu.cpu() - ecpu0
        if proc.returncode != 0:
            raise RuntimeError(f"worker {impl}/{provider}/{n} failed:\n{proc.stderr[-3000:]}")
        result = json.loads(Path(out.name).read_text())
    result["emulator_cpu_s"] = ecpu
    return summarise(result, emu.send_log(), n, seconds)


# -- matching and figures ---------------------------------------------------------------------


def normalise(text: str) -> list[str]:
    from speechkit.text import words  # here: a "theirs" worker may run where speechkit is not installed

    return words(text)


def _transcript(frame: str) -> str | None:
    """The transcript a vendor message carries (Telnyx, AssemblyAI: ``transcript``; Speechmatics:
    ``metadata.transcript``; AssemblyAI's turns: their ``words``), or None."""
    with contextlib.suppress(ValueError):
        msg = json.loads(frame)
        if isinstance(msg, dict):
            words = msg.get("words")  # AssemblyAI: ``transcript`` holds only the finalised words
            if isinstance(words, list) and words and all(isinstance(w, dict) for w in words):
                return " ".join(str(w.get("text", "")) for w in words)
            text = msg.get("transcript", (msg.get("metadata") or {}).get("transcript"))
            return text if isinstance(text, str) else None
    return None


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def summarise(
    result: dict[str, Any], log: list[tuple[int, float, str]], n: int, seconds: float
) -> dict[str, Any]:
    """Latency from the send log, words_ok per stream, and the cost figures."""
    sent: dict[int, list[tuple[float, tuple[str, ...]]]] = {}
    seen: dict[int, set[str]] = {}
    for session, at, frame in log:
        text = _transcript(frame)
        if text is None:
            continue
        words = tuple(normalise(text))
        if words:
            sent.setdefault(session, []).append((at, words))
            seen.setdefault(session, set()).update(words)
    owner = {frozenset(id_words(i)): i for i in range(n)}
    tail = set(tail_words())
    by_stream: dict[int, list[tuple[float, tuple[str, ...]]]] = {}
    for session, words in seen.items():
        i = owner.get(frozenset(words - tail))
        if i is not None:
            by_stream.setdefault(i, []).extend(sent[session])
    latencies: list[float] = []
    finals_ms: list[float] = []
    unmatched = 0
    ok = 0
    for i, evs in enumerate(result["events"]):
        finals = [w for kind, text, _ in evs if kind == 2 for w in normalise(text)]
        ok += finals == expected_words(i, seconds)
        msgs = sorted(by_stream.get(i, []))
        for kind, text, got in evs:
            words = tuple(normalise(text))
            # the latest message at or before the event whose transcript ends the event's words
            best = None
            for at, m in msgs:
                if at > got:
                    break
                if len(m) <= len(words) and words[len(words) - len(m) :] == m:
                    best = at
            if best is None:
                unmatched += 1
                continue
            latencies.append((got - best) * 1000)
            if kind == 2:
                finals_ms.append((got - best) * 1000)
    drains = [d - e for e, d in zip(result["ended"], result["done"], strict=True) if e and d >= e]
    return {
        "cpu_per_audio_s": result["cpu_s"] / result["audio_s"],
        "rss_per_stream_kb": max(0, result["rss_peak_kb"] - result["rss_base_kb"]) / n,
        "p50_ms": _pct(latencies, 0.50),
        "p95_ms": _pct(latencies, 0.95),
        "p99_ms": _pct(latencies, 0.99),
        "final_p99_ms": _pct(finals_ms, 0.99),
        "events": len(latencies),
        "unmatched": unmatched,
        "drain_s": statistics.median(drains) if drains else float("nan"),
        "lag_max_ms": result["lag_max_ms"],
        "lag_p99_ms": result["lag_p99_ms"],
        "words_ok": ok == n and result["n_errors"] == 0,
        "streams_ok": ok,
        "errors": result["errors"],
        "emulator_cpu_s": result["emulator_cpu_s"],
        "audio_s": result["audio_s"],
        # share of one core each process used while the streams ran: the first near 1.0 saturates
        "client_busy": result["cpu_s"] / result["wall_s"],
        "emulator_busy": result["emulator_cpu_s"] / result["wall_s"],
        "backlog_s": result["backlog_s"],
        "replay_kb": result["replay_kb"],
    }


def within_bounds(r: dict[str, Any]) -> bool:
    """Holds the streams: p99 under the bound, pacing clock never far behind, every word right."""
    return bool(r["words_ok"]) and r["p99_ms"] < P99_BOUND_MS and r["lag_max_ms"] < LAG_BOUND_MS


# -- the run ----------------------------------------------------------------------------------


def available(impl: str, provider: str, python: str) -> str | None:
    """None when ``impl`` can run for ``provider``, else why not."""
    if impl == "ours":
        return None
    probe = subprocess.run([python, "-c", f"import {_MODULES[provider]}"], capture_output=True, text=True)
    if probe.returncode:
        pkg = THEIRS[provider].replace(" ", "==")
        return f"{THEIRS[provider]} is not installed for {python} (pip install {pkg})"
    return None


def _ratio(a: float, b: float) -> str:
    if not (a == a and b == b) or b == 0:  # NaN or zero
        return "-"
    return f"{a / b:.2f}"


FIGURES = (
    ("cpu ms/audio s", "cpu_per_audio_s", 1000.0, "{:.2f}"),
    ("RSS KiB/stream", "rss_per_stream_kb", 1.0, "{:.0f}"),
    ("p50 ms", "p50_ms", 1.0, "{:.1f}"),
    ("p95 ms", "p95_ms", 1.0, "{:.1f}"),
    ("p99 ms", "p99_ms", 1.0, "{:.1f}"),
    ("drain s", "drain_s", 1.0, "{:.2f}"),
)


def print_row(provider: str, n: int, ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> None:
    cells = [f"{provider:12} {n:5d}"]
    for _, key, scale, fmt in FIGURES:
        a = ours[key] * scale if ours else float("nan")
        b = theirs[key] * scale if theirs else float("nan")
        cells.append(f"{fmt.format(a):>8} {fmt.format(b):>8} {_ratio(a, b):>5}")
    ok = lambda r: "-" if r is None else ("yes" if r["words_ok"] else f"NO {r['streams_ok']}/{n}")  # noqa: E731
    cells.append(f"{ok(ours):>8} {ok(theirs):>8}")
    print(" | ".join(cells), flush=True)


def print_load(ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> None:
    """Which process was busiest (share of one core while the streams ran) and ours' backlog."""
    for name, r in (("ours", ours), ("theirs", theirs)):
        if r is None:
            continue
        backlog = "" if r["backlog_s"] is None else f", backlog max {r['backlog_s']:.2f} s"
        if r["replay_kb"] is not None:
            backlog += f", replay audio held {r['replay_kb']:.0f} KiB/stream at most"
        errors = f", {len(r['errors'])} errors: {r['errors'][0]}" if r["errors"] else ""
        print(
            f"    {name:6} client busy {r['client_busy']:.0%}, emulator busy {r['emulator_busy']:.0%}, "
            f"pacing late max {r['lag_max_ms']:.0f} ms{backlog}{errors}",
            flush=True,
        )


def header() -> None:
    names = [f"{'provider':12} {'N':>5}"] + [f"{name:^24}" for name, *_ in FIGURES] + [f"{'words ok':^17}"]
    print(" | ".join(names))
    sub = (
        [" " * 18]
        + [f"{'ours':>8} {'theirs':>8} {'o/t':>5}" for _ in FIGURES]
        + [f"{'ours':>8} {'theirs':>8}"]
    )
    print(" | ".join(sub), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 and 10 streams, 3.5 s of audio each")
    ap.add_argument("--json", metavar="FILE", help="write the rows (issue 11's schema, plus the details)")
    ap.add_argument("--details", metavar="FILE", help="write every figure of every scenario as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="write the table as Markdown (README's)")
    ap.add_argument("--providers", default=",".join(PROVIDERS))
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--streams", help="comma-separated concurrencies (default 1,10,100,500,1000)")
    ap.add_argument("--seconds", type=float, help="audio per stream (default 10; --quick 3.5)")
    ap.add_argument("--search", type=int, default=0, help="bisection steps for the scale limit")
    ap.add_argument("--ref-python", default=sys.executable, help="interpreter for LiveKit's plugins")
    ap.add_argument(
        "--pin", action="store_true", help="client workers on CPU 0, the emulator on CPU 1 (taskset)"
    )
    ap.add_argument("--emulator", help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.emulator:
        asyncio.run(serve_emulator(args.emulator))
        return
    if args.worker:
        spec = json.loads(args.worker)
        if prof_dir := os.environ.get("SPEECHKIT_BENCH_PROFILE"):  # cProfile the worker's run
            import cProfile

            with cProfile.Profile() as prof:
                result = asyncio.run(run_worker(spec))
            name = f"{spec['impl']}-{spec['provider']}-{spec['streams']}.prof"
            Path(prof_dir).mkdir(parents=True, exist_ok=True)
            prof.dump_stats(str(Path(prof_dir) / name))
        else:
            result = asyncio.run(run_worker(spec))
        Path(args.out).write_text(json.dumps(result))
        return
    counts = [int(x) for x in (args.streams or ("1,10" if args.quick else "1,10,100,500,1000")).split(",")]
    seconds = args.seconds or (3.5 if args.quick else 10.0)
    providers = [p for p in args.providers.split(",") if p]
    impls = [i for i in args.impls.split(",") if i]
    if bad := sorted(set(impls) - set(IMPLS)) + sorted(set(providers) - set(PROVIDERS)):
        ap.error(
            f"unknown {', '.join(bad)}: --impls takes {','.join(IMPLS)}; --providers {','.join(PROVIDERS)}"
        )
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(f"{seconds:g} s of 48 kHz audio per stream, paced at real time; latency over interims and finals")
    rows: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    header()
    for provider in providers:
        emu = EmulatorProcess(provider, 1 if args.pin else None)
        try:
            why = {impl: available(impl, provider, args.ref_python) for impl in impls}
            results: dict[tuple[str, int], dict[str, Any]] = {}
            for n in counts:
                for impl in impls:  # interleaved: ours then theirs at each count
                    if why[impl] is None:
                        python = sys.executable if impl == "ours" else args.ref_python
                        results[impl, n] = run_scenario(
                            impl, provider, n, seconds, emu, python, 0 if args.pin else None
                        )
                ours, theirs = results.get(("ours", n)), results.get(("theirs", n))
                print_row(provider, n, ours, theirs)
                print_load(ours, theirs)
                rows.append(_row(provider, n, ours, theirs, why))
                details.append(
                    {
                        "provider": provider,
                        "streams": n,
                        "ours": ours,
                        "theirs": theirs,
                        "theirs_unavailable": why.get("theirs"),
                    }
                )
            for impl in impls:
                if why[impl]:
                    print(f"  {impl} unavailable for {provider}: {why[impl]}")
            for impl in impls:
                if why[impl] is None:
                    held = [n for n in counts if within_bounds(results[impl, n])]
                    limit = _search(impl, provider, counts, results, args.search, seconds, emu, args)
                    print(
                        f"  scale limit {impl:6} {provider}: {limit} streams (tested {counts}; held {held})"
                    )
        finally:
            emu.stop()
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.details:
        Path(args.details).write_text(json.dumps(details, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(markdown(details))


def markdown(details: list[dict[str, Any]]) -> str:
    """The table as Markdown: per figure ``ours / theirs (ours/theirs)``."""
    names = " | ".join(name for name, *_ in FIGURES)
    lines = [f"| provider | streams | {names} | words ok |", "|---|---:|" + "---:|" * len(FIGURES) + "---|"]
    for d in details:
        ours, theirs = d["ours"], d["theirs"]
        cells = []
        for _, key, scale, fmt in FIGURES:
            a = ours[key] * scale if ours else float("nan")
            b = theirs[key] * scale if theirs else float("nan")
            cells.append(f"{fmt.format(a)} / {fmt.format(b)} ({_ratio(a, b)})" if theirs else fmt.format(a))
        ok = " / ".join(
            "-" if r is None else ("yes" if r["words_ok"] else f"{r['streams_ok']}/{d['streams']}")
            for r in (ours, theirs)
        )
        lines.append(f"| {d['provider']} | {d['streams']} | {' | '.join(cells)} | {ok} |")
    return "\n".join(lines) + "\n"


def _search(
    impl: str,
    provider: str,
    counts: list[int],
    results: dict[tuple[str, int], Any],
    steps: int,
    seconds: float,
    emu: EmulatorProcess,
    args: argparse.Namespace,
) -> str:
    held = [n for n in counts if within_bounds(results[impl, n])]
    failed = [n for n in counts if not within_bounds(results[impl, n])]
    lo = max(held, default=0)
    hi = min((n for n in failed if n > lo), default=None)
    if hi is None:
        return f">= {lo}" if lo else "none"
    python = sys.executable if impl == "ours" else args.ref_python
    for _ in range(steps):
        mid = (lo + hi) // 2
        if mid in (lo, hi):
            break
        r = run_scenario(impl, provider, mid, seconds, emu, python, 0 if args.pin else None)
        print(
            f"    search {impl} {provider} {mid}: p99 {r['p99_ms']:.1f} ms, lag {r['lag_max_ms']:.0f} ms, "
            f"words_ok {r['words_ok']}",
            flush=True,
        )
        lo, hi = (mid, hi) if within_bounds(r) else (lo, mid)
    return f"{lo} (fails at {hi})"


def _row(
    provider: str,
    n: int,
    ours: dict[str, Any] | None,
    theirs: dict[str, Any] | None,
    why: dict[str, str | None],
) -> dict[str, Any]:
    def get(r: dict[str, Any] | None, key: str) -> float | None:
        return None if r is None or r[key] != r[key] else round(float(r[key]), 6)

    return {
        "provider": provider,
        "streams": n,
        "ours_cpu_per_audio_s": get(ours, "cpu_per_audio_s"),
        "theirs_cpu_per_audio_s": get(theirs, "cpu_per_audio_s"),
        "ours_p99_ms": get(ours, "p99_ms"),
        "theirs_p99_ms": get(theirs, "p99_ms"),
        "words_ok": all(r["words_ok"] for r in (ours, theirs) if r is not None) and ours is not None,
    }


if __name__ == "__main__":
    main()
