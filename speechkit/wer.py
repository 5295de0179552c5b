"""Word error rate against a reference: jiwer over text normalised by Whisper's English normaliser.

The normaliser is the one Whisper's own evaluations use (``whisper-normalizer``, a packaging
of ``whisper/normalizers/english.py``): numbers spelt out or in digits compare equal
("ten" = "10"), "Mr." = "mister", British spellings become American, punctuation and case
go. One addition: adjacent digit-only words are joined, since it joins spelt digits ("five
five" -> "55") but not written ones ("5 5"). Used by ``speechkit compare`` and the local
engine's benchmark (``bench/bench_local.py``).

Both libraries are in the ``[compare]`` extra (the base install stays light); without them
:func:`english_normaliser` raises a :class:`~speechkit.errors.ConfigError` naming it. Whether
two transcript words are the same word (replay, dedupe) is a different, simpler rule:
:mod:`speechkit.text`.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Callable, Sequence

from .errors import ConfigError

WER_MODULES = {"jiwer": "jiwer", "whisper_normalizer": "whisper-normalizer"}
"""Import names -> PyPI names of what WER needs (the ``[compare]`` extra)."""

INSTALL = "pip install 'speechkit-stt[compare]'"

_DIGIT_RUN = re.compile(r"\b(\d+) (?=\d+\b)")


def missing_modules() -> list[str]:
    """PyPI names of the WER dependencies that are not installed."""
    return [dist for mod, dist in WER_MODULES.items() if importlib.util.find_spec(mod) is None]


def require(what: str = "WER") -> None:
    """Raise unless jiwer and whisper-normalizer are installed.

    Raises:
        ConfigError: naming the missing packages and the extra that brings them.
    """
    missing = missing_modules()
    if missing:
        raise ConfigError(f"{what} needs {', '.join(missing)} (not installed): {INSTALL}")


def english_normaliser() -> Callable[[str], str]:
    """Whisper's English normaliser, with adjacent digit-only words joined.

    Returns:
        ``text -> normalised text`` (lower case, single spaces).

    Raises:
        ConfigError: jiwer or whisper-normalizer is not installed (the ``[compare]`` extra).
    """
    require()
    return _normaliser()


@functools.cache
def _normaliser() -> Callable[[str], str]:  # built once: it loads a spelling table
    from whisper_normalizer.english import EnglishTextNormalizer

    n = EnglishTextNormalizer()

    def norm(text: str) -> str:
        return _DIGIT_RUN.sub(r"\1", " ".join(n(text).split()))

    return norm


def wer(reference: str, hypothesis: str) -> float:
    """jiwer's WER of two already normalised texts.

    Returns:
        Errors (substitutions, deletions, insertions) over reference words; 1.0 for an empty
        hypothesis; 0.0 when both are empty; NaN for words against an empty reference.
    """
    import jiwer

    if not reference:
        return float("nan") if hypothesis else 0.0
    if not hypothesis:
        return 1.0
    return float(jiwer.wer(reference, hypothesis))


def corpus_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """WER over all words of several normalised pairs (not a mean of per-pair rates): every
    reference word weighs the same. Pairs with an empty reference are left out; NaN when none
    is left."""
    import jiwer

    pairs = [(r, h if h else "<empty>") for r, h in zip(references, hypotheses, strict=True) if r]
    if not pairs:
        return float("nan")
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))
