"""The ``speechkit`` command line: ``transcribe``, ``providers``.

Exit codes: 0 success; 1 a recognition error (network, vendor); 2 bad usage or
config (unknown provider, bad option, missing key); 3 an input file is missing or
undecodable; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

import attrs
from livekit.agents import APIError, stt

from . import factory, registry
from .audio import AudioFileError, DecodedAudio, decode_file, push_frames
from .errors import ConfigError

EXIT_OK, EXIT_API, EXIT_CONFIG, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
E = stt.SpeechEventType


def _span(start: float, end: float, sep: str = ".") -> str:
    """``start --> end``; a provider that gave no end time gets the start repeated."""
    return f"{_clock(start, sep)} --> {_clock(max(start, end), sep)}"


def _clock(seconds: float, sep: str = ".") -> str:
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


class Renderer:
    """Writes events of one run in the chosen format; live lines go to a terminal only.

    Args:
        fmt: ``text``, ``jsonl``, ``srt`` or ``vtt``.
        out: Where transcripts go (stdout).
        status: Where the live interim line and progress go (stderr), or None.
    """

    def __init__(self, fmt: str, out: IO[str], status: IO[str] | None) -> None:
        self.fmt = fmt
        self.out = out
        self.status = status
        self.cue = 0
        self._status_len = 0
        self.progress = ""
        self.interim = ""
        if fmt == "vtt":
            out.write("WEBVTT\n\n")

    def event(self, file: str, ev: stt.SpeechEvent) -> None:
        alt = ev.alternatives[0] if ev.alternatives else None
        if self.fmt == "jsonl":
            rec: dict[str, Any] = {"file": file, "type": ev.type.value}
            if alt is not None:
                rec.update(
                    text=alt.text,
                    start=round(alt.start_time, 3),
                    end=round(alt.end_time, 3),
                    language=str(alt.language),
                    confidence=alt.confidence,
                )
                if alt.words:
                    rec["words"] = [
                        {"text": str(w), "start": w.start_time, "end": w.end_time} for w in alt.words
                    ]
            if ev.recognition_usage is not None:
                rec["audio_seconds"] = round(ev.recognition_usage.audio_duration, 3)
            self.out.write(json.dumps(rec) + "\n")
            self.out.flush()
            return
        if ev.type == E.INTERIM_TRANSCRIPT and alt is not None:
            self.interim = alt.text
            self._draw()
        elif ev.type == E.FINAL_TRANSCRIPT and alt is not None:
            self.interim = ""
            self._clear()
            self.cue += 1
            if self.fmt == "text":
                timed = alt.start_time or alt.end_time  # some vendors (Telnyx) send no times
                self.out.write(
                    f"[{_span(alt.start_time, alt.end_time)}] {alt.text}\n" if timed else f"{alt.text}\n"
                )
            elif self.fmt == "srt":
                self.out.write(f"{self.cue}\n{_span(alt.start_time, alt.end_time, ',')}\n{alt.text}\n\n")
            else:
                self.out.write(f"{_span(alt.start_time, alt.end_time)}\n{alt.text}\n\n")
            self.out.flush()
            self._draw()

    def set_progress(self, text: str) -> None:
        self.progress = text
        self._draw()

    def _draw(self) -> None:
        if self.status is None:
            return
        width = max(
            20, (os.get_terminal_size(self.status.fileno()).columns if self.status.isatty() else 100) - 1
        )
        line = f"{self.progress} {self.interim}".strip()
        if len(line) > width:
            line = "…" + line[-(width - 1) :]
        self.status.write("\r" + line + " " * max(0, self._status_len - len(line)) + "\r")
        self.status.flush()
        self._status_len = len(line)

    def _clear(self) -> None:
        if self.status is not None and self._status_len:
            self.status.write("\r" + " " * self._status_len + "\r")
            self.status.flush()
            self._status_len = 0


async def _transcribe_one(engine: Any, path: str, audio: DecodedAudio, r: Renderer, realtime: bool) -> None:
    stream = engine.stream()
    total = audio.duration
    pushed = 0.0

    def advance(seconds: float) -> None:
        nonlocal pushed
        pushed = seconds

    async def progress() -> None:
        while True:
            r.set_progress(f"[{path}: {100 * pushed / total:3.0f}% of {total:.0f}s]")
            await asyncio.sleep(0.5)

    feeder = asyncio.create_task(
        push_frames(stream, audio.frames, speed=1.0 if realtime else None, progress=advance)
    )
    ticker = asyncio.create_task(progress()) if r.status is not None and total >= 10 else None
    try:
        async for ev in stream:
            r.event(path, ev)
        await feeder
    finally:
        for t in (feeder, ticker):
            if t is not None:
                t.cancel()
        r.progress = ""
        r._clear()
        await stream.aclose()


async def _transcribe(args: argparse.Namespace) -> int:
    engine = factory.stt(args.stt)  # raises ConfigError before any file is read
    interactive = sys.stderr.isatty() and args.format != "jsonl"
    r = Renderer(args.format, sys.stdout, sys.stderr if interactive else None)
    status = EXIT_OK
    try:
        for path in args.files:
            try:
                audio = await asyncio.to_thread(decode_file, path)
            except AudioFileError as e:
                print(f"speechkit: {e}", file=sys.stderr)
                status = max(status, EXIT_INPUT)
                continue
            try:
                await _transcribe_one(engine, path, audio, r, args.realtime)
            except APIError as e:
                print(f"speechkit: {path}: {e.message}", file=sys.stderr)
                status = EXIT_API if status == EXIT_OK else status
    finally:
        await engine.aclose()
    return status


def _providers(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        try:
            cls = registry.get(name)
        except ConfigError as e:
            rows.append({"name": name, "available": False, "error": str(e)})
            continue
        options = {
            f.name: (None if f.default is attrs.NOTHING else getattr(f.default, "factory", f.default))
            for f in attrs.fields(cls.options_class)
        }
        cred = cls.credential_env
        rows.append(
            {
                "name": name,
                "available": True,
                "capabilities": attrs.asdict(cls.capabilities),
                # credentials are never printed; a provider with no network has no endpoint
                "options": {
                    k: v
                    for k, v in options.items()
                    if k != "api_key" and (cls.capabilities.needs_network or k != "base_url")
                },
                "credential_env": cred,
                "credentials_configured": bool(os.environ.get(cred)) if cred else True,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    for row in rows:
        if not row["available"]:
            print(f"{row['name']}: unavailable — {row['error']}\n")
            continue
        caps = [k for k, v in row["capabilities"].items() if v is True]
        cred = row["credential_env"]
        key = (
            "no key needed" if not cred else f"{cred} {'set' if row['credentials_configured'] else 'NOT set'}"
        )
        print(f"{row['name']}  ({key})")
        print(f"  capabilities: {', '.join(caps)}; sample rates: {row['capabilities']['sample_rates']}")
        print("  options: " + ", ".join(f"{k}={v!r}" for k, v in row["options"].items()))
        print()
    return EXIT_OK


def _emulate(args: argparse.Namespace) -> int:
    import importlib

    cls = registry.get(args.provider)
    if not cls.emulator:
        print(f"speechkit: {args.provider} runs in-process and has no emulator", file=sys.stderr)
        return EXIT_CONFIG
    module, _, name = cls.emulator.partition(":")
    emulator_cls = getattr(importlib.import_module(module), name)

    changes: dict[str, str] = {}
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set takes FIELD=VALUE, got {item!r}")
        changes[key.strip()] = value.strip()
    emulator = emulator_cls.for_cli(recognizer=args.recognizer, port=args.port)
    emulator.configure(changes)  # an unknown field fails here, before serving

    async def serve() -> None:
        async with emulator as emu:
            print(
                f"{args.provider} emulator ({args.recognizer} recognizer) listening on {emu.url} "
                f"api_key={emu.api_key}"
            )
            config = f"{args.provider}?base_url={emu.url}&api_key={emu.api_key}"
            print(f"  try: speechkit transcribe FILE --stt '{config}'")
            print("  Ctrl-C to stop", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return EXIT_OK


def _conformance(args: argparse.Namespace, extra: list[str]) -> int:
    import subprocess

    registry.get(args.provider)  # an unknown name fails here, with a suggestion
    # a child pytest: its assertion rewriting needs modules this process already imported
    return subprocess.call(
        [
            sys.executable, "-m", "pytest",
            "-p", "speechkit_conformance.plugin",
            "--pyargs", "speechkit_conformance.suite",
            "-o", "asyncio_mode=auto",
            "-o", "asyncio_default_fixture_loop_scope=function",
            "--speechkit-provider", args.provider,
            "-rs", *extra,
        ]
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speechkit", description="Streaming speech-to-text behind one core.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("transcribe", help="transcribe audio files (WAV, FLAC, MP3, OGG; any rate/channels)")
    t.add_argument("files", nargs="+", metavar="FILE")
    t.add_argument(
        "--stt",
        default=None,
        metavar="CONFIG",
        help=f"provider config string (default: ${factory.ENV_VAR} or '{factory.DEFAULT_CONFIG}')",
    )
    t.add_argument("--format", choices=["text", "jsonl", "srt", "vtt"], default="text")
    t.add_argument("--realtime", action="store_true", help="pace audio at 1x, as a live caller")
    pr = sub.add_parser("providers", help="list providers, capabilities, options and credentials")
    pr.add_argument("--json", action="store_true")
    em = sub.add_parser("emulate", help="run a provider's protocol emulator on 127.0.0.1")
    em.add_argument("provider")
    em.add_argument("--port", type=int, default=0, help="TCP port (default: any free one)")
    em.add_argument(
        "--recognizer",
        choices=["oracle", "local"],
        default="oracle",
        help="oracle: synthetic tone words (tests); local: the local engine on real speech",
    )
    em.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a field of the emulator's config or fault plan (repeatable), e.g. "
        "--set stall_after=15 --set end_of_stream=stay_open",
    )
    co = sub.add_parser(
        "conformance",
        help="run the shared conformance suite for a provider",
        description="Extra arguments go to pytest (e.g. -x, -k NAME).",
    )
    co.add_argument("provider")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``speechkit`` command. Returns the exit code."""
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.command != "conformance":
        build_parser().parse_args(argv)  # reports the unknown arguments and exits 2
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "providers":
            return _providers(args)
        if args.command == "emulate":
            return _emulate(args)
        if args.command == "conformance":
            return _conformance(args, extra)
        return asyncio.run(_transcribe(args))
    except ConfigError as e:
        print(f"speechkit: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `speechkit transcribe ... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
