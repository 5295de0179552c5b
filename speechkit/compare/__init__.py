"""``speechkit compare``: which config string serves your audio best.

Each input goes through each config string (a fallback chain is one), a bounded number of
streams at a time, and each run is measured the same way whatever the provider
(:mod:`.measure`): WER against a reference (:mod:`speechkit.wer`, :mod:`.references`), time
to first interim, final latency (end of a final's audio -> the final, on the stream clock),
reconnects and errors, the seconds each vendor bills by its own rule and their cost
(:mod:`.billing`). :mod:`.report` gives the table and the JSON, :mod:`.page` the HTML page.

    runs = await speechkit.compare.compare(["call.wav"], ["local", "telnyx:en"], realtime=True)
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Sequence

from .. import factory
from ..config import parse
from ..errors import ConfigError
from .measure import Connection, Run, label_of, measure

__all__ = ["Connection", "Run", "compare", "label_of", "measure", "split_label"]

_LABEL = re.compile(r"([A-Za-z0-9_.-]+)=(.+)", re.DOTALL)


def split_label(arg: str) -> tuple[str, str]:
    """``--stt`` as ``(label, config)``: ``LABEL=CONFIG`` names it, else the label is the config
    without its credentials (:func:`label_of`).

    A name before ``=`` is a label only when what precedes it holds none of a config string's
    separators (``?``, ``:``, ``/``, ``,``), so ``telnyx?api_key=x`` is a config, not a label.

    Raises:
        ConfigError: the config string is bad.
    """
    m = _LABEL.fullmatch(arg.strip())
    if m is not None:
        parse(m[2])  # raises for a bad string
        return m[1], m[2].strip()
    return label_of(arg), arg


async def compare(
    files: Sequence[str],
    configs: Sequence[str],
    *,
    references: dict[str, str | None] | None = None,
    realtime: bool = False,
    concurrency: int = 4,
    on_done: Callable[[Run], None] | None = None,
) -> list[Run]:
    """Run every file through every config string, ``concurrency`` streams at a time.

    Args:
        files: Audio files.
        configs: ``--stt`` values (``CONFIG`` or ``LABEL=CONFIG``, see :func:`split_label`).
        references: Reference transcript by file (``references.load_references``); WER is
            computed for the files that have one.
        realtime: Pace audio at 1x, as a live caller.
        concurrency: Streams at once, at most (1 or more).
        on_done: Called with each run as it completes (a progress bar).

    Returns:
        The runs, file by file, each file's in the order of ``configs``.

    Raises:
        ConfigError: a bad config string, two with one label, or a bad ``concurrency``
            (before any audio is read); WER's extra missing when a reference is given.
    """
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be 1 or more, got {concurrency}")
    labelled = [split_label(c) for c in configs]
    labels = [lab for lab, _ in labelled]
    if len(set(labels)) != len(labels):
        raise ConfigError("two --stt have the same label: name them with LABEL=CONFIG")
    refs = references or {}
    norm = None
    if any(refs.get(f) is not None for f in files):
        from ..wer import english_normaliser

        norm = english_normaliser()  # raises naming the extra, before any stream
    for _, config in labelled:  # every string (and its credentials) checked before audio flows
        await factory.stt(config).aclose()
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str, label: str, config: str) -> Run:
        async with gate:
            run = await measure(config, path, label=label, realtime=realtime)
        run.reference = refs.get(path)
        if norm is not None and run.reference is not None:
            from ..wer import wer

            w = wer(norm(run.reference), norm(run.transcript))
            run.wer = None if math.isnan(w) else w
        if on_done is not None:
            on_done(run)
        return run

    return list(await asyncio.gather(*(one(f, lab, c) for f in files for lab, c in labelled)))
