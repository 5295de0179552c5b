"""The emulators' own cost at scale: one emulator process, N real-time sessions. Not a test.

One emulator of ``--provider`` (telnyx, assemblyai, speechmatics) runs in a process of its own
with its default config and the oracle recognizer (``--send-log`` turns its send log on, as
``bench/bench_providers.py`` does). ``--clients`` client processes (2 by default, so the clients
are not the bottleneck) share the N sessions. Each client is plain aiohttp: per session one
WebSocket, the vendor's opening (Telnyx: ``linear16`` 16 kHz in the query; AssemblyAI: the
``/v3/ws`` query; Speechmatics: ``StartRecognition``, then audio once ``RecognitionStarted``
came), then 100 ms chunks of PCM s16le 16 kHz oracle speech paced at real time by one 10 ms
clock per process (the sessions spread over its ten phases), then the vendor's end of stream
(``CloseStream``, ``Terminate``, ``EndOfStream``) and reads until the server closes. A
session's reader only counts messages and looks for the close.

Session ``i`` says three-word utterances starting at word ``i % 25`` of the oracle's vocabulary,
so the sessions do not all send the same bytes at once.

Figures per run: the emulator's CPU seconds (user + system, from ``/proc/PID/stat``) per
second of audio received, over the whole run (connects and drains included) and over the
steady window in which every session was streaming; its peak RSS; sessions that closed early
(the server closed or the connection failed before the session sent its end of stream),
sessions whose close was not 1000, and the clients' own CPU and pacing lag (worst tick late).

Usage::

    python bench/bench_emulator.py --provider telnyx                 # 100 then 1000 sessions
    python bench/bench_emulator.py --provider assemblyai --streams 100 --seconds 5
    python bench/bench_emulator.py --provider speechmatics --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PROVIDERS = ("telnyx", "assemblyai", "speechmatics")
RATE = 16000
CHUNK_S = 0.1
CHUNK = int(RATE * CHUNK_S) * 2  # bytes of PCM s16le
TICK_S = 0.01
PHASES = round(CHUNK_S / TICK_S)
CONNECTS = 64  # concurrent handshakes per client process


# -- the emulator process -----------------------------------------------------------------------


def make_emulator(provider: str, send_log: bool) -> Any:
    if provider == "telnyx":
        from speechkit_conformance.emulators.telnyx import TelnyxEmulator as cls
    elif provider == "assemblyai":
        from speechkit_conformance.emulators.assemblyai import AssemblyAIEmulator as cls  # type: ignore[assignment]
    else:
        from speechkit_conformance.emulators.speechmatics import SpeechmaticsEmulator as cls  # type: ignore[assignment]
    emu = cls()
    return emu.log_sends() if send_log else emu


async def serve_emulator(provider: str, send_log: bool, profile: str | None = None) -> None:
    emu = make_emulator(provider, send_log)
    async with emu:
        info = {"port": emu.port, "api_key": emu.api_key, "module": type(emu).__module__}
        print(json.dumps(info), flush=True)
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent goes
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class EmulatorProcess:
    """The emulator in a subprocess; its CPU sampled every 0.1 s in a thread."""

    def __init__(self, provider: str, send_log: bool, profile: str | None = None) -> None:
        cmd = [sys.executable, __file__, "--emulator", provider, *(["--send-log"] if send_log else [])]
        cmd += ["--profile", profile] if profile else []
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.port, self.api_key, self.module = info["port"], info["api_key"], info["module"]
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                self.samples.append((time.monotonic(), proc_cpu(self.proc.pid)))
            self._stop.wait(0.1)

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_between(self, t0: float, t1: float) -> tuple[float, float]:
        """(CPU seconds, wall seconds) between the first and last samples within ``t0``-``t1``."""
        inside = [(t, c) for t, c in self.samples if t0 <= t <= t1]
        if len(inside) < 2:
            return float("nan"), 0.0
        return inside[-1][1] - inside[0][1], inside[-1][0] - inside[0][0]

    def stop(self) -> None:
        self._stop.set()
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the client process ---------------------------------------------------------------------------


def oracle_chunks(seconds: float, first: int = 0) -> list[bytes]:
    """``seconds`` of oracle speech (utterances of three words from word ``first`` on) as 100 ms
    PCM s16le chunks."""
    import numpy as np
    from speechkit_conformance.oracle import LEAD_S, VOCABULARY, synthesize

    parts, have, k = [], 0, first
    while have < seconds * RATE:
        words = [VOCABULARY[(k + j) % len(VOCABULARY)] for j in range(3)]
        parts.append(synthesize([words], RATE, lead=LEAD_S if not parts else 0.0))
        have, k = have + len(parts[-1]), k + 3
    n = round(seconds / CHUNK_S)
    pcm = np.concatenate(parts)
    pcm = np.pad(pcm, (0, max(0, n * CHUNK // 2 - len(pcm))))[: n * CHUNK // 2]
    data = pcm.astype("<i2").tobytes()
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def opening(provider: str, port: int, key: str) -> tuple[str, dict[str, str], str | None, str]:
    """(url, headers, first text message or None, end-of-stream message) for one session."""
    base = f"ws://127.0.0.1:{port}"
    if provider == "telnyx":
        query = "transcription_engine=Telnyx&input_format=linear16&sample_rate=16000"
        url = f"{base}/v2/speech-to-text/transcription?{query}"
        return url, {"Authorization": f"Bearer {key}"}, None, json.dumps({"type": "CloseStream"})
    if provider == "assemblyai":
        query = "sample_rate=16000&encoding=pcm_s16le&speech_model=universal-streaming-english"
        return f"{base}/v3/ws?{query}", {"Authorization": key}, None, json.dumps({"type": "Terminate"})
    start = {
        "message": "StartRecognition",
        "audio_format": {"type": "raw", "encoding": "pcm_s16le", "sample_rate": RATE},
        "transcription_config": {
            "language": "en",
            "enable_partials": True,
            "max_delay": 0.7,
            "conversation_config": {"end_of_utterance_silence_trigger": 0.5},
        },
    }
    return f"{base}/v2", {"Authorization": f"Bearer {key}"}, json.dumps(start), ""


class _Session:
    __slots__ = (
        *("chunks", "closed_at", "code", "connected_at", "ended_at", "failed"),
        *("messages", "ready", "sent", "started_at", "ws"),
    )

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.ws: Any = None
        self.ready = False
        self.sent = 0
        self.messages = 0
        self.connected_at = 0.0  # the upgrade done
        self.started_at = 0.0  # first chunk sent
        self.ended_at = 0.0  # end of stream sent
        self.closed_at = 0.0
        self.code: int | None = None
        self.failed = ""


async def run_client(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    provider, n = spec["provider"], spec["sessions"]
    variants = [oracle_chunks(spec["seconds"], k) for k in range(25)]
    url, headers, first, end = opening(provider, spec["port"], spec["api_key"])
    sessions = [_Session(variants[(spec["first"] + i) % 25]) for i in range(n)]
    sem = asyncio.Semaphore(CONNECTS)
    cpu0 = time.process_time()

    async def connect_and_read(s: _Session, http: aiohttp.ClientSession) -> None:
        try:
            async with sem:
                s.ws = await http.ws_connect(url, headers=headers, autoping=True, max_msg_size=0)
            s.connected_at = time.monotonic()
            if first is not None:
                await s.ws.send_str(first)
            else:
                s.ready = True
            async for msg in s.ws:
                s.messages += 1
                if not s.ready and msg.type == aiohttp.WSMsgType.TEXT and "RecognitionStarted" in msg.data:
                    s.ready = True
                elif provider == "speechmatics" and s.ended_at and "EndOfTranscript" in msg.data:
                    # the client closes after EndOfTranscript unless the server did
                    # (docs/protocols/speechmatics.md §3.5)
                    await s.ws.close()
            s.code = s.ws.close_code
        except Exception as e:
            s.failed = f"{type(e).__name__}: {e}"
        s.closed_at = time.monotonic()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        readers = [asyncio.create_task(connect_and_read(s, http)) for s in sessions]
        phases = [sessions[p::PHASES] for p in range(PHASES)]
        t0, tick, lag = time.monotonic(), 0, 0.0
        deadline = t0 + spec["seconds"] + 60.0
        while time.monotonic() < deadline:
            due = t0 + tick * TICK_S
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            lag = max(lag, time.monotonic() - due)
            for s in phases[tick % PHASES]:
                if not s.ready or s.ended_at or s.closed_at:
                    continue
                try:
                    if s.sent < len(s.chunks):
                        if not s.sent:
                            s.started_at = time.monotonic()
                        await s.ws.send_bytes(s.chunks[s.sent])
                        s.sent += 1
                    else:
                        msg = end or json.dumps({"message": "EndOfStream", "last_seq_no": s.sent})
                        await s.ws.send_str(msg)
                        s.ended_at = time.monotonic()
                except (ConnectionError, RuntimeError) as e:
                    s.failed = s.failed or f"send: {type(e).__name__}: {e}"
            tick += 1
            if all(s.ended_at or s.closed_at for s in sessions):
                break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30.0):
                await asyncio.gather(*readers)
        for s in sessions:
            if s.ws is not None and not s.ws.closed:
                await s.ws.close()
        for r in readers:
            r.cancel()
    cpu = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "sessions": n,
        "audio_s": sum(s.sent for s in sessions) * CHUNK_S,
        "early": sum(1 for s in sessions if not s.ended_at),
        "not_1000": sum(1 for s in sessions if s.ended_at and s.code != 1000),
        "failed": [s.failed for s in sessions if s.failed][:5],
        "messages": sum(s.messages for s in sessions),
        "clock_start": t0,
        "last_connect": max((s.connected_at for s in sessions), default=0.0),
        "first_audio": min((s.started_at for s in sessions if s.started_at), default=0.0),
        "last_first_audio": max((s.started_at for s in sessions), default=0.0),
        "first_end": min((s.ended_at for s in sessions if s.ended_at), default=0.0),
        "last_close": max((s.closed_at for s in sessions), default=0.0),
        "cpu_s": cpu,
        "max_rss_kb": usage.ru_maxrss,
        "lag_max_ms": lag * 1000,
    }


# -- the run ------------------------------------------------------------------------------------------


def run(
    provider: str, n: int, seconds: float, clients: int, send_log: bool, profile: str | None = None
) -> dict[str, Any]:
    emu = EmulatorProcess(provider, send_log, f"{profile}.{provider}.{n}" if profile else None)
    try:
        cpu0 = emu.cpu()
        shares = [n // clients + (k < n % clients) for k in range(clients)]
        procs = []
        for k, share in enumerate(shares):
            spec = {"provider": provider, "sessions": share, "seconds": seconds, "first": sum(shares[:k])}
            spec |= {"port": emu.port, "api_key": emu.api_key}
            cmd = [sys.executable, __file__, "--client", json.dumps(spec)]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
        outs = [json.loads(p.communicate(timeout=seconds + 180)[0]) for p in procs]
        cpu = emu.cpu() - cpu0
        rss = emu.peak_rss_mb()
        window = (max(o["last_first_audio"] for o in outs), min(o["first_end"] for o in outs))
        steady, span = emu.cpu_between(*window) if window[1] > window[0] else (float("nan"), 0.0)
    finally:
        emu.stop()
    audio = sum(o["audio_s"] for o in outs)
    return {
        "provider": provider,
        "module": emu.module,
        "streams": n,
        "seconds": seconds,
        "send_log": send_log,
        "emulator_cpu_s": cpu,
        "emulator_peak_rss_mb": rss,
        "audio_s": audio,
        "cpu_per_audio_s": cpu / audio if audio else float("nan"),
        "steady_cpu_per_audio_s": steady / (n * span) if span else float("nan"),
        "steady_window_s": span,
        "early": sum(o["early"] for o in outs),
        "not_1000": sum(o["not_1000"] for o in outs),
        "failed": [f for o in outs for f in o["failed"]][:5],
        "messages": sum(o["messages"] for o in outs),
        "client_cpu_s": [round(o["cpu_s"], 2) for o in outs],
        "client_lag_max_ms": max(o["lag_max_ms"] for o in outs),
        "wall_s": max(o["last_close"] for o in outs) - min(o["first_audio"] for o in outs),
        "start_spread_s": max(o["last_first_audio"] for o in outs) - min(o["first_audio"] for o in outs),
        "connects_s": max(o["last_connect"] for o in outs) - min(o["clock_start"] for o in outs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--provider", choices=PROVIDERS, default="telnyx")
    ap.add_argument("--streams", default="100,1000", help="comma-separated session counts")
    ap.add_argument("--seconds", type=float, default=10.0, help="audio per session")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--send-log", action="store_true", help="the emulator keeps its send log")
    ap.add_argument("--json", metavar="FILE", help="append the rows as JSON lines")
    ap.add_argument("--profile", metavar="PREFIX", help="cProfile the emulator to PREFIX.<provider>.<N>")
    ap.add_argument("--emulator", choices=PROVIDERS, help=argparse.SUPPRESS)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.emulator:
        asyncio.run(serve_emulator(args.emulator, args.send_log, args.profile))
        return
    if args.client:
        print(json.dumps(asyncio.run(run_client(json.loads(args.client)))))
        return
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    for n in (int(x) for x in args.streams.split(",")):
        row = run(args.provider, n, args.seconds, args.clients, args.send_log, args.profile)
        print(
            f"{row['provider']:12} {n:5d} sessions: emulator {row['cpu_per_audio_s'] * 1000:7.2f} ms CPU"
            f" per audio s (steady {row['steady_cpu_per_audio_s'] * 1000:7.2f} over"
            f" {row['steady_window_s']:.1f} s); closed early {row['early']}, not 1000 {row['not_1000']};"
            f" clients CPU {row['client_cpu_s']} s, lag max {row['client_lag_max_ms']:.0f} ms;"
            f" wall {row['wall_s']:.1f} s (all connected after {row['connects_s']:.1f} s, first audio"
            f" spread {row['start_spread_s']:.1f} s);"
            f" {row['messages']} messages; emulator peak RSS {row['emulator_peak_rss_mb']:.0f} MiB",
            flush=True,
        )
        if row["failed"]:
            print(f"  failures: {row['failed']}", flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
