"""The ``speechkit`` command line: ``transcribe``, ``compare``, ``providers``, ``emulate``, ``conformance``.

Exit codes (:data:`EXIT_CODES`, also in ``--help``): 0 success; 1 a runtime failure (a
recognition error, or an input that cannot be read or decoded: reported by name, the
other inputs still run); 2 bad usage or config (unknown option, provider or value,
missing key or extra); 130 interrupted.

Only the standard library is imported until a command runs, so ``--help`` answers fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from .exits import EXIT_CODES, EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError, verbosity

__all__ = ["EXIT_CODES", "EXIT_CONFIG", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "build_parser", "main"]


def _version() -> str:
    from .. import __version__  # the package's own __init__: already imported

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
    c = sub.add_parser(
        "compare",
        help="compare config strings on your audio: WER, latency, reconnects, billed seconds, cost",
        description="Run each file through each config string (a fallback chain counts as one) and "
        "report per provider and per file: WER against the reference, time to first interim, final "
        "latency p50/p95, reconnects and errors, the seconds each vendor bills by its rule, and cost.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
        parents=[common],
    )
    c.add_argument("files", nargs="+", metavar="FILE", help="an audio file")
    c.add_argument(
        "--stt",
        action="append",
        required=True,
        metavar="[LABEL=]CONFIG",
        help="a config string to compare (repeat for each; LABEL= names it in the report)",
    )
    c.add_argument(
        "--reference",
        metavar="TEXT|DIR|MANIFEST",
        help="reference transcripts: a manifest.jsonl ({file, text} a line), a directory of NAME.txt, "
        "a text file, or the text itself (needs the [compare] extra for WER)",
    )
    c.add_argument("--realtime", action="store_true", help="pace audio at 1x, as a live caller")
    c.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="streams at once, at most (default: 4)"
    )
    c.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="NAME=USD_PER_HOUR",
        help="price of a provider or provider/model per billed hour (repeatable; overrides --prices)",
    )
    c.add_argument("--prices", metavar="FILE", help='a JSON price table {"provider[/model]": usd_per_hour}')
    c.add_argument("--json", metavar="FILE", help="write the figures as JSON (schema: README)")
    c.add_argument("--html", metavar="FILE", help="write a self-contained HTML page with charts")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "conformance":
        parser.parse_args(argv)  # reports the unknown arguments and exits 2
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(verbosity(args), 2)), logging.DEBUG
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        # each command's module is imported when it runs: --help loads only the standard library
        if args.command in ("providers", "emulate", "conformance", "compare"):
            from . import commands

            if args.command == "compare":
                return commands.compare(args)
            if args.command == "conformance":
                return commands.conformance(args, extra)
            return commands.providers(args) if args.command == "providers" else commands.emulate(args)
        from . import transcribe

        return asyncio.run(transcribe.run(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `speechkit transcribe ... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as e:
        from ..errors import ConfigError  # light: errors imports only livekit's error classes

        if not isinstance(e, (UsageError, ConfigError)):
            raise
        print(f"speechkit: {e}", file=sys.stderr)
        return EXIT_CONFIG
