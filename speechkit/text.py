"""Text normalisation: the one rule by which speechkit compares transcript words.

The core uses it to find words a replaying connection repeats (:mod:`speechkit.overlap`), the
local engine to compare hypotheses, and the conformance harness, the tests and the benchmarks
to count lost and doubled words. WER against a reference uses Whisper's English normaliser
instead (``bench/bench_local.py``); this rule only decides whether two words are the same word.
"""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^\w']+")


def words(text: str) -> list[str]:
    """Lower-case words of ``text``, punctuation dropped (``"Times, it"`` -> ``["times", "it"]``).

    A word is a run of word characters (letters, digits, ``_``, any script) and apostrophes,
    so ``"don't"`` stays one word and ``"cold-hearted"`` is two.
    """
    return _NON_WORD.sub(" ", text.lower()).split()


def normalise(text: str) -> str:
    """``text`` as its :func:`words` joined by single spaces (``"Ask not!"`` -> ``"ask not"``)."""
    return " ".join(words(text))


def drop_words(text: str, count: int) -> str:
    """``text`` without its first ``count`` words (as :func:`words` counts them), the rest as
    written (case and punctuation kept)."""
    tokens = text.split()
    seen = 0
    for i, token in enumerate(tokens):
        if seen >= count:
            return " ".join(tokens[i:])
        seen += len(words(token))
    return ""
