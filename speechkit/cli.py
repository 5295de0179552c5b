"""The ``speechkit`` command line: ``transcribe``, ``providers``, ``emulate``, ``conformance``.

Exit codes (:data:`EXIT_CODES`, also in ``--help``): 0 success; 1 a runtime failure (a
recognition error, or an input that cannot be read or decoded: reported by name, the
other inputs still run); 2 bad usage or config (unknown option, provider or value,
missing key or extra); 130 interrupted.

Only the standard library is imported until a command runs, so ``--help`` answers fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livekit import rtc
    from livekit.agents import stt

    from .output import Writer

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

EXIT_CODES = """exit codes:
  0    success
  1    runtime failure: a recognition error (network, vendor), or an input that cannot be
       read or decoded (reported by name; the other inputs still run)
  2    bad usage or config: unknown option, provider or value, missing key or extra
  130  interrupted (Ctrl-C); -o DIR never leaves a partial file
"""


class _Progress:
    """A tqdm bar on stderr: audio *recognised* (end of the last final) of the input, with ETA.

    The live interim text is its postfix; lines written to stdout clear and redraw it. For
    standard input (length unknown) it counts the seconds recognised.

    Args:
        name: Shown before the bar.
        total: Seconds of audio in the input, or None when unknown.
    """

    def __init__(self, name: str, total: float | None) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        bar = "{percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s recognised [{elapsed}<{remaining}]"
        self.bar = tqdm(
            total=round(total, 1) if total is not None else None,
            desc=name,
            unit="s",
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
            bar_format="{desc}: "
            + (bar if total is not None else "{n:.1f} s recognised [{elapsed}]")
            + " {postfix}",
        )

    def event(self, ev: stt.SpeechEvent, recognised: float | None) -> None:
        from livekit.agents import stt

        alt = ev.alternatives[0] if ev.alternatives else None
        if ev.type == stt.SpeechEventType.INTERIM_TRANSCRIPT and alt is not None:
            self.bar.set_postfix_str(alt.text[-60:])
        elif ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
            self.bar.set_postfix_str("", refresh=False)
            if recognised is not None:
                limit = self.bar.total if self.bar.total is not None else recognised
                self.bar.update(round(min(recognised, limit) - self.bar.n, 3))

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Around a write to stdout: the bar is cleared, then redrawn."""
        return self._tqdm.external_write_mode(file=sys.stdout)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.bar.close()


async def _transcribe_one(
    engine: Any,
    frames: Sequence[rtc.AudioFrame] | AsyncIterator[rtc.AudioFrame],
    writer: Writer,
    *,
    realtime: bool,
    progress: _Progress | None,
) -> None:
    """Stream one input through the engine, writing its events as they come.

    Raises:
        APIError: recognition failed.
        AudioFileError: the input (standard input) could not be decoded to its end.
    """
    from livekit.agents import stt

    from .audio import SpeechSegments, push_frames
    from .output import UntimedClock, is_timed

    stream = engine.stream(realtime=realtime)
    pushed = 0.0
    runs = SpeechSegments()  # for finals without times (UntimedClock)
    clock: UntimedClock | None = None

    async def audio() -> AsyncIterator[rtc.AudioFrame]:
        nonlocal pushed
        if isinstance(frames, AsyncIterator):
            async for frame in frames:
                runs.feed(frame)
                yield frame
                pushed += frame.samples_per_channel / frame.sample_rate
        else:
            for frame in frames:
                runs.feed(frame)
                yield frame
                pushed += frame.samples_per_channel / frame.sample_rate

    async def feed() -> None:
        try:
            await push_frames(stream, audio(), speed=1.0 if realtime else None, end_input=False)
        finally:  # also when the input fails to decode midway: the stream ends, then it raises
            with contextlib.suppress(RuntimeError):  # already closed (interrupted)
                stream.end_input()

    feeder = asyncio.create_task(feed())
    try:
        async for ev in stream:
            alt = ev.alternatives[0] if ev.alternatives else None
            span: tuple[float, float] | None = None
            if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT and alt is not None and not is_timed(alt):
                clock = clock or UntimedClock(runs)
                span = clock.span(pushed)
            elif ev.type == stt.SpeechEventType.END_OF_SPEECH and clock is not None:
                clock.end_of_utterance()
            if progress is None:
                writer.event(ev, span)
                continue
            with progress.writing():
                writer.event(ev, span)
            progress.event(ev, span[1] if span else alt.end_time if alt is not None else None)
        await feeder
    finally:
        feeder.cancel()
        await stream.aclose()


@contextlib.contextmanager
def _destination(output_dir: str | None, path: str, ext: str) -> Iterator[IO[str]]:
    """stdout, or ``DIR/NAME.ext`` written atomically: a temporary file renamed when complete."""
    if output_dir is None:
        yield sys.stdout
        return
    stem = "stdin" if path == "-" else Path(path).stem
    target = Path(output_dir) / f"{stem}.{ext}"
    fd, tmp = tempfile.mkstemp(dir=output_dir, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _config(args: argparse.Namespace) -> str:
    """The config string: ``--stt`` (or ``$SPEECHKIT_STT``, or the default) with ``--language`` applied."""
    import attrs

    from .config import format_chain, parse
    from .factory import config_text

    text = config_text(args.stt)
    if args.language:
        text = format_chain([attrs.evolve(s, language=args.language) for s in parse(text)])
    return text


async def _transcribe(args: argparse.Namespace) -> int:
    from livekit.agents import APIError

    from . import factory
    from .audio import STDIN, AudioFileError, in_thread, read_file, stream_frames
    from .output import FORMATS, Writer

    if args.files.count(STDIN) > 1:
        raise UsageError("'-' (standard input) can be given once")
    if (args.input_channels != 1) and args.input_rate is None:
        raise UsageError("--input-channels needs --input-rate (headerless PCM input)")
    engine = factory.stt(_config(args))  # raises ConfigError before any file is read
    if args.output_dir is not None:
        try:
            os.makedirs(args.output_dir, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--output-dir {args.output_dir}: {e.strerror or e}") from e
    show = not args.no_progress and _verbosity(args) >= 0 and sys.stdout.isatty() and sys.stderr.isatty()
    several = len(args.files) > 1 and args.output_dir is None
    raw = {"input_rate": args.input_rate, "input_channels": args.input_channels}
    status = EXIT_OK
    try:
        for path in args.files:
            name = "<stdin>" if path == STDIN else path
            frames: Sequence[rtc.AudioFrame] | AsyncIterator[rtc.AudioFrame]
            try:
                if path == STDIN:  # decoded as it arrives: a live pipe works too
                    frames, duration = in_thread(stream_frames(sys.stdin.buffer, **raw)), None
                else:
                    audio = await asyncio.to_thread(read_file, path, **raw)
                    frames, duration = audio.frames, audio.duration
                progress = _Progress(Path(name).name, duration) if show else None
                try:
                    with _destination(args.output_dir, path, FORMATS[args.format]) as out:
                        writer = Writer(args.format, out, name=name, marker=several)
                        await _transcribe_one(
                            engine, frames, writer, realtime=args.realtime, progress=progress
                        )
                finally:
                    if progress is not None:
                        progress.close()
            except AudioFileError as e:
                print(f"speechkit: {e}", file=sys.stderr)
                status = EXIT_FAILURE
            except APIError as e:
                print(f"speechkit: {name}: {e.message}", file=sys.stderr)
                status = EXIT_FAILURE
    finally:
        await engine.aclose()
    return status


def _providers(args: argparse.Namespace) -> int:
    import json

    from . import registry
    from .catalog import capability_names, describe, first_sentence

    rows = [describe(name) for name in registry.names()]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    for row in rows:
        if "error" in row:
            print(f"{row['name']}: cannot be loaded — {row['error']}\n")
            continue
        caps = row["capabilities"]
        cred = row["credential_env"]
        key = "no key" if not cred else f"{cred} {'set' if row['credentials_configured'] else 'NOT set'}"
        print(f"{row['name']}: {row['summary']}")
        print(f"  config:       {row['example']}")
        print(f"  network:      {'yes' if row['network'] else 'no (in-process)'}")
        print(f"  credentials:  {key}")
        print(f"  capabilities: {', '.join(capability_names(caps))}")
        print(
            f"  languages:    {', '.join(caps['languages']) or 'any the vendor accepts'}; "
            f"sample rates: {', '.join(map(str, caps['sample_rates']))} Hz"
        )
        if not row["available"]:
            print(f"  install:      not installed — {row['install']}")
        print("  options:")
        for opt, info in row["options"].items():
            doc = f"  {first_sentence(info['doc'])}" if info["doc"] else ""
            print(f"    {opt}: {info['type']} = {info['default']!r}{doc}")
        print()
    return EXIT_OK


def _emulate(args: argparse.Namespace) -> int:
    import importlib

    from . import registry
    from .errors import ConfigError

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


CONFORMANCE_MODULES = ("pytest", "pytest_asyncio", "hypothesis", "jiwer")
"""What ``speechkit conformance`` needs beyond the core: the ``[conformance]`` extra."""


def _conformance(args: argparse.Namespace, extra: list[str]) -> int:
    import importlib.util
    import subprocess

    from . import registry

    missing = [m for m in CONFORMANCE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"the conformance suite needs {', '.join(missing)} (not installed): "
            "pip install 'speechkit-stt[conformance]'"
        )
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
            *extra,
        ]
    )  # fmt: skip


class UsageError(Exception):
    """A command-line mistake found after argument parsing (exit 2)."""


def _verbosity(args: argparse.Namespace) -> int:
    return int(getattr(args, "verbose", 0)) - int(getattr(args, "quiet", 0))


def _version() -> str:
    from . import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``speechkit`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="log more (-vv for debug)"
    )
    common.add_argument(
        "-q", "--quiet", action="count", default=argparse.SUPPRESS, help="log errors only; no progress bar"
    )
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="speechkit",
        description="Streaming speech-to-text behind one core.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
        parents=[common],
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser(
        "transcribe",
        help="transcribe audio files or standard input (WAV, FLAC, MP3, OGG; any rate/channels)",
        description="Transcribe each input; '-' reads standard input (any container PyAV can probe, "
        "or headerless PCM s16le with --input-rate).",
        epilog=EXIT_CODES,
        formatter_class=fmt,
        parents=[common],
    )
    t.add_argument("files", nargs="+", metavar="FILE", help="an audio file, or '-' for standard input")
    t.add_argument(
        "--stt",
        default=None,
        metavar="CONFIG",
        help="provider config string (default: $SPEECHKIT_STT or 'local')",
    )
    t.add_argument("--language", metavar="LANG", help="BCP-47 language; overrides the config string's")
    t.add_argument(
        "-f",
        "--format",
        choices=["text", "tsv", "srt", "vtt", "jsonl"],
        default="text",
        help="text: one utterance per line, no times; tsv: start, end (ms) and text; "
        "srt/vtt: subtitles; jsonl: one speech event per line (default: text)",
    )
    t.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        help="write NAME.txt/.tsv/.srt/.vtt/.jsonl per input into DIR (atomically) instead of stdout",
    )
    t.add_argument(
        "--realtime",
        action="store_true",
        help="pace audio at 1x as a live stream (without it the input is a recording, which "
        "local decodes whole: more accurate, the same every run)",
    )
    t.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it shows only when stdout and stderr are terminals)",
    )
    t.add_argument(
        "--input-rate", type=int, metavar="HZ", help="the input is headerless PCM s16le at this rate"
    )
    t.add_argument(
        "--input-channels",
        type=int,
        default=1,
        metavar="N",
        help="interleaved channels of headerless PCM input (default: 1)",
    )
    pr = sub.add_parser(
        "providers", help="list providers, capabilities, options and credentials", parents=[common]
    )
    pr.add_argument("--json", action="store_true", help="the same, as JSON")
    em = sub.add_parser("emulate", help="run a provider's protocol emulator on 127.0.0.1", parents=[common])
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
        description="Extra arguments (-v, -q, -x, -k NAME...) go to pytest.",
    )
    co.add_argument("provider")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``speechkit`` command. Returns the exit code (see :data:`EXIT_CODES`)."""
    import logging

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "conformance":
        parser.parse_args(argv)  # reports the unknown arguments and exits 2
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(_verbosity(args), 2)), logging.DEBUG
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "providers":
            return _providers(args)
        if args.command == "emulate":
            return _emulate(args)
        if args.command == "conformance":
            return _conformance(args, extra)
        return asyncio.run(_transcribe(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `speechkit transcribe ... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as e:
        from .errors import ConfigError

        if not isinstance(e, (UsageError, ConfigError)):
            raise
        print(f"speechkit: {e}", file=sys.stderr)
        return EXIT_CONFIG
