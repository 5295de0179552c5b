"""What any aiohttp WebSocket client costs per stream, next to speechkit's (not a test).

The floor is the least a Python client can do for one real-time stream of 48 kHz 20 ms frames
to Telnyx: hold the frames in a bytearray, resample each 100 ms chunk with libsoxr HQ (one
call), send it as one binary frame, and ``json.loads`` every message the server sends. No
replay, pause rule, events or retries. Both run in one invocation on the same Telnyx
emulator (its own process, oracle recognizer), the floor in a worker process of its own and
speechkit through ``bench_providers``' worker, each pinned to CPU 0 with the emulator on CPU 1
(``--pin``). It prints CPU ms per audio second for each and the ratio, and how many such
streams one core could hold at real time.

Usage::

    python bench/bench_floor.py --streams 100 --seconds 10 --pin
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench_providers as bp


async def floor_worker(url: str, api_key: str, n: int, seconds: float) -> dict[str, float]:
    """``n`` bare streams for ``seconds`` of audio each; CPU seconds, audio seconds and the
    transcript messages received (none would mean the audio was not understood)."""
    import aiohttp
    import numpy as np
    import soxr

    from speechkit.codecs import wav_header

    tail = bp.speech(bp.tail_utterances(seconds), bp.RATE_IN, lead=0.1)
    frames = [tail[k : k + bp.FRAME].tobytes() for k in range(0, len(tail) - bp.FRAME + 1, bp.FRAME)]
    chunk = 2 * bp.RATE_IN // 10  # bytes of 100 ms at the input rate
    query = "transcription_engine=Telnyx&input_format=wav&language=en&interim_results=true"
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    headers = {"Authorization": f"Bearer {api_key}"}
    wss = []
    for _ in range(n):
        ws = await http.ws_connect(f"{url}/v2/speech-to-text/transcription?{query}", headers=headers)
        await ws.send_bytes(wav_header(bp.RATE))
        wss.append(ws)
    resamplers = [soxr.ResampleStream(bp.RATE_IN, bp.RATE, 1, dtype="float32", quality="HQ") for _ in wss]
    held = [bytearray() for _ in wss]

    messages = [0]

    async def read(ws: Any) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                json.loads(msg.data)
                messages[0] += 1

    readers = [asyncio.create_task(read(ws)) for ws in wss]
    cpu0, t0 = bp._cpu(), time.monotonic() + 0.05
    for k, frame in enumerate(frames):
        await asyncio.sleep(max(0.0, t0 + k * bp.FRAME / bp.RATE_IN - time.monotonic()))
        for i, ws in enumerate(wss):
            buf = held[i]
            buf += frame
            if len(buf) >= chunk:
                x = np.frombuffer(buf, dtype=np.int16).astype(np.float32)
                buf.clear()
                y = resamplers[i].resample_chunk(x)
                np.rint(y, out=y)
                np.clip(y, -32768, 32767, out=y)
                await ws.send_bytes(y.astype(np.int16).tobytes())
    cpu = bp._cpu() - cpu0
    for ws in wss:
        await ws.close()
    for r in readers:
        r.cancel()
    await http.close()
    return {"cpu_s": cpu, "audio_s": n * len(frames) * bp.FRAME / bp.RATE_IN, "messages": messages[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--pin", action="store_true", help="workers on CPU 0, the emulator on CPU 1")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        result = asyncio.run(floor_worker(spec["url"], spec["api_key"], spec["n"], spec["seconds"]))
        print(json.dumps(result))
        return
    cpu = 0 if args.pin else None
    emu = bp.EmulatorProcess("telnyx", 1 if args.pin else None)
    try:
        spec = {"url": emu.url, "api_key": emu.api_key, "n": args.streams, "seconds": args.seconds}
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(spec)], stdout=subprocess.PIPE, text=True
        )
        bp.pin(proc.pid, cpu)
        out, _ = proc.communicate(timeout=600)
        floor = json.loads(out)
        ours = bp.run_scenario("ours", "telnyx", args.streams, args.seconds, emu, sys.executable, cpu)
    finally:
        emu.stop()
    f_ms = 1000 * floor["cpu_s"] / floor["audio_s"]
    o_ms = 1000 * ours["cpu_per_audio_s"]
    print(f"telnyx, {args.streams} streams x {args.seconds:g} s of 48 kHz 20 ms frames, CPU ms per audio s:")
    print(
        f"  floor (aiohttp + soxr per chunk) {f_ms:6.2f}  -> {1000 / f_ms:5.0f} real-time streams per core"
        f" ({floor['messages']} transcript messages)"
    )
    print(
        f"  speechkit                        {o_ms:6.2f}  -> {1000 / o_ms:5.0f} real-time streams per core"
        f" (words ok: {'yes' if ours['words_ok'] else 'no'})"
    )
    print(f"  speechkit / floor                {o_ms / f_ms:6.2f}x")


if __name__ == "__main__":
    main()
