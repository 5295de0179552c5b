"""``speechkit transcribe``: files or standard input through an STT, as text, tsv, srt, vtt or jsonl.

Imported when the command runs (``speechkit --help`` stays fast: it loads none of this).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import attrs
from livekit import rtc
from livekit.agents import APIError, stt
from tqdm import tqdm

from .. import blocking, factory
from ..audio import SpeechSegments, push_frames
from ..config import check_language, format_chain, parse
from ..decode import MAX_CHANNELS, STDIN, AudioFileError, open_file, open_stream
from ..factory import config_text
from ..output import FORMATS, UntimedClock, Writer, is_timed
from ..stream.input import MAX_RATE, MIN_RATE
from .exits import EXIT_FAILURE, EXIT_OK, UsageError, verbosity


class Progress:
    """A tqdm bar on stderr: audio *recognised* (end of the last final) of the input, with ETA.

    The live interim text is its postfix; lines written to stdout clear and redraw it. For
    standard input (length unknown) it counts the seconds recognised.

    Args:
        name: Shown before the bar.
        total: Seconds of audio in the input, or None when unknown.
    """

    def __init__(self, name: str, total: float | None) -> None:
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


async def transcribe_one(
    engine: Any,
    frames: Sequence[rtc.AudioFrame] | AsyncIterator[rtc.AudioFrame],
    writer: Writer,
    *,
    realtime: bool,
    progress: Progress | None,
) -> None:
    """Stream one input through the engine, writing its events as they come.

    Raises:
        APIError: recognition failed.
        AudioFileError: the input (standard input) could not be decoded to its end.
    """
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
def destination(output_dir: str | None, path: str, ext: str) -> Iterator[IO[str]]:
    """stdout, or ``DIR/NAME.ext`` written atomically: a temporary file renamed when complete,
    with the mode a new file gets under the umask (``mkstemp`` makes it 0600)."""
    if output_dir is None:
        yield sys.stdout
        return
    stem = "stdin" if path == "-" else Path(path).stem
    target = Path(output_dir) / f"{stem}.{ext}"
    fd, tmp = tempfile.mkstemp(dir=output_dir, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def config(args: argparse.Namespace) -> str:
    """The config string: ``--stt`` (or ``$SPEECHKIT_STT``, or the default) with ``--language`` applied."""
    text = config_text(args.stt)
    if args.language is not None:
        language = check_language(args.language)
        text = format_chain([attrs.evolve(s, language=language) for s in parse(text)])
    return text


def check_raw_format(args: argparse.Namespace) -> None:
    """``--input-rate`` and ``--input-channels`` in range, before any input is read.

    Raises:
        UsageError: naming the option and the range.
    """
    if args.input_rate is None:
        if args.input_channels != 1:
            raise UsageError("--input-channels needs --input-rate (headerless PCM input)")
        return
    if not MIN_RATE <= args.input_rate <= MAX_RATE:
        raise UsageError(f"--input-rate must be {MIN_RATE}-{MAX_RATE} Hz, got {args.input_rate}")
    if not 1 <= args.input_channels <= MAX_CHANNELS:
        raise UsageError(f"--input-channels must be 1-{MAX_CHANNELS}, got {args.input_channels}")


async def run(args: argparse.Namespace) -> int:
    if args.files.count(STDIN) > 1:
        raise UsageError("'-' (standard input) can be given once")
    check_raw_format(args)
    engine = factory.stt(config(args))  # raises ConfigError before any file is read
    if args.output_dir is not None:
        try:
            os.makedirs(args.output_dir, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--output-dir {args.output_dir}: {e.strerror or e}") from e
    show = not args.no_progress and verbosity(args) >= 0 and sys.stdout.isatty() and sys.stderr.isatty()
    several = len(args.files) > 1 and args.output_dir is None
    raw = {"input_rate": args.input_rate, "input_channels": args.input_channels}
    status = EXIT_OK
    try:
        for path in args.files:
            name = "<stdin>" if path == STDIN else path
            try:
                # opened and decoded in a daemon thread, as it arrives: a live pipe works, a
                # stalled one is logged and Ctrl-C ends the command at once
                if path == STDIN:
                    # os.read, not sys.stdin.buffer: a thread blocked in the buffer's read holds its
                    # lock, and the interpreter's exit after Ctrl-C then aborts
                    stdin = blocking.PipeReader(sys.stdin.fileno())
                    source = await blocking.call(functools.partial(open_stream, stdin, **raw), name=name)
                else:
                    source = await blocking.call(functools.partial(open_file, path, **raw), name=name)
                # a file in batches of 1 s (fewer thread hops), a pipe in 100 ms ones (latency)
                batch = 5 if path == STDIN else 50
                frames = blocking.in_thread(iter(source), batch, name=name)
                duration = source.duration
                progress = Progress(Path(name).name, duration) if show else None
                try:
                    with destination(args.output_dir, path, FORMATS[args.format]) as out:
                        writer = Writer(args.format, out, name=name, marker=several)
                        await transcribe_one(
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
