"""``speechkit compare``'s command: arguments in, table (and JSON, HTML) out."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from ..errors import ConfigError
from . import compare, label_of, split_label
from .billing import load_prices
from .measure import Run
from .page import render_page
from .references import load_references
from .report import render_table, summarise, to_json


def _write(path: str, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed), mode as the umask gives."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(args: argparse.Namespace, *, show_progress: bool) -> int:
    """Run the comparison the arguments ask for; the exit code (1 when a run failed).

    Raises:
        ConfigError: a bad config string, price, reference or option; WER's extra missing
            (all before any audio is streamed).
    """
    from ..cli.exits import EXIT_FAILURE, EXIT_OK

    for out in (args.json, args.html):
        if out is not None and not os.path.isdir(os.path.dirname(os.path.abspath(out))):
            raise ConfigError(f"{out}: its directory does not exist")
    prices = load_prices(args.prices, args.price)
    refs = load_references(args.reference, args.files)
    bar = (
        tqdm(total=len(args.files) * len(args.stt), desc="compare", unit="run", file=sys.stderr, leave=False)
        if show_progress
        else None
    )

    def done(r: Run) -> None:
        if bar is not None:
            bar.set_postfix_str(f"{Path(r.file).name} · {r.label}"[-60:], refresh=False)
            bar.update(1)

    try:
        runs = asyncio.run(
            compare(
                args.files,
                args.stt,
                references=refs,
                realtime=args.realtime,
                concurrency=args.concurrency,
                on_done=done,
            )
        )
    finally:
        if bar is not None:
            bar.close()
    labelled = [split_label(c) for c in args.stt]
    summaries = summarise([(lab, label_of(c)) for lab, c in labelled], runs, prices)
    print(render_table(summaries, realtime=args.realtime), end="")
    if args.json is not None:
        doc = to_json(summaries, realtime=args.realtime, concurrency=args.concurrency)
        _write(args.json, json.dumps(doc, indent=2) + "\n")
    if args.html is not None:
        _write(
            args.html, render_page(summaries, {"realtime": args.realtime, "concurrency": args.concurrency})
        )
    return EXIT_FAILURE if any(r.failed for r in runs) else EXIT_OK
