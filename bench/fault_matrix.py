"""Fault matrix: one fault per run, against a provider's emulator with the local recognizer (real speech).

For each fault of the emulator's fault plan and each push mode (real-time paced, as fast as
possible) it transcribes one recording through ``speechkit.stt`` and prints the words lost and
doubled against the same run with no fault, and against the reference text when given.

    python bench/fault_matrix.py FILE [--provider telnyx] [--reference "text"] [--only drop,stall]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import sys
import time

from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.harness import FAST, transcribe

import speechkit
from speechkit import registry
from speechkit.audio import decode_file
from speechkit.text import words

FAULTS = {
    "none": FaultPlan(),
    "drop": FaultPlan(drop_after=15.0),
    "close1011": FaultPlan(close_code=1011, close_after=15.0),
    "malformed": FaultPlan(malformed_after=10.0),
    "error": FaultPlan(error_after=10.0),
    "stall": FaultPlan(stall_after=15.0),
    "mute": FaultPlan(mute_after=15.0),
    "stall_at_end": FaultPlan(stall_after=-1.0),  # set per file: right after the last audio
    "refuse503x2": FaultPlan(refuse_status=503, refuse_count=2),
}


def diff(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    """(words of ref missing from hyp, words of hyp not in ref), by jiwer's minimal alignment.

    A substituted word counts once on each side (lost and extra); an inserted word (a
    doubled one) counts as extra only.
    """
    import jiwer

    if not ref or not hyp:
        return len(ref), len(hyp)
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return out.deletions + out.substitutions, out.insertions + out.substitutions


async def run_one(provider: str, path: str, plan: FaultPlan, speed: float | None) -> tuple[str, str, float]:
    cls = registry.get(provider)
    assert cls.emulator
    module, _, name = cls.emulator.partition(":")
    emulator_cls = getattr(importlib.import_module(module), name)
    audio = decode_file(path)
    async with emulator_cls.for_cli(recognizer="local") as emu:
        emu.faults = plan
        engine = speechkit.stt(f"{provider}?base_url={emu.url}&api_key={emu.api_key}")
        t0 = time.monotonic()
        outcome = "ok"
        text = ""
        try:
            run = await transcribe(engine, audio.frames, speed=speed, conn_options=FAST, limit=180.0)
            text = run.text
        except speechkit.APIError as e:
            outcome = f"APIError: {e.message}"
        finally:
            with contextlib.suppress(Exception):
                await engine.aclose()
        return text, outcome, time.monotonic() - t0


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--provider", default="telnyx")
    p.add_argument("--reference", default=None)
    p.add_argument("--only", default=",".join(FAULTS))
    p.add_argument("--modes", default="realtime,burst")
    args = p.parse_args()
    duration = decode_file(args.file).duration
    baseline: dict[str, list[str]] = {}
    print(f"{'fault':14} {'mode':9} {'lost':>5} {'doubled':>7} {'vs ref':>12} {'secs':>6}  outcome")
    for mode in args.modes.split(","):
        speed = 1.0 if mode == "realtime" else None
        for fault in ["none", *[f for f in args.only.split(",") if f != "none"]]:
            plan = FAULTS[fault]
            if fault == "stall_at_end":
                plan = FaultPlan(stall_after=duration - 0.05)
            text, outcome, secs = await run_one(args.provider, args.file, plan, speed)
            got = words(text)
            if fault == "none":
                baseline[mode] = got
            lost, doubled = diff(baseline[mode], got)
            vs_ref = "-"
            if args.reference:
                rl, rd = diff(words(args.reference), got)
                vs_ref = f"-{rl}/+{rd}"
            print(
                f"{fault:14} {mode:9} {lost:5d} {doubled:7d} {vs_ref:>12} {secs:6.1f}  {outcome}", flush=True
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
