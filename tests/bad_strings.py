"""Hypothesis strategies for config strings near the grammar, over the built-in providers'
real option names (the API's and the command line's bad-input tests share them)."""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from speechkit import registry

BUILT_IN = ("local", "telnyx", "speechmatics", "assemblyai", "deepgram")
NASTY_VALUES = [
    "nan", "NaN", "inf", "-inf", "1e999", "-1", "0", "1", "0.5", "16000", "8000", "true", "none",
    "%00", "%FF", "%C3", "%2C%2C", "~nosuchuser/x", "a" * 300, "ws://", "http://[::1", "notaurl",
    "١٦٠٠٠", " 1", "1_0", "0x10", "\u200b", "ü", "|", "a" * 5000,
]  # fmt: skip


def _fields(provider: str) -> list[str]:
    # no `download`: local would try huggingface.co for a named model
    return [f.name for f in attrs.fields(registry.get(provider).options_class) if f.name != "download"]


FIELDS = {p: _fields(p) for p in BUILT_IN}


@st.composite
def specs(draw: st.DrawFn) -> str:
    """Near-valid specs: a real provider (or any name), any model and language parts, its real
    option names (and misspelt ones) with values from :data:`NASTY_VALUES` or any text."""
    provider = draw(st.sampled_from(BUILT_IN) | st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True))
    text = provider
    if draw(st.booleans()):
        text += "/" + draw(st.sampled_from(["tiny.en", "enhanced", "x", ""]) | st.text(max_size=8))
    if draw(st.booleans()):
        text += ":" + draw(st.sampled_from(["en", "de", "multi", "en-US", "e", ""]) | st.text(max_size=5))
    keys = [*FIELDS.get(provider, []), "interim_result", "Model", "x", ""]
    value = st.sampled_from(NASTY_VALUES) | st.text(max_size=20) | st.from_regex(r"[0-9.eE+-]{1,8}")
    options = draw(st.lists(st.tuples(st.sampled_from(keys), value), max_size=4))
    if options:
        text += "?" + "&".join(f"{k}={v}" for k, v in options)
    return text


config_strings = st.lists(specs(), min_size=1, max_size=3).map(", ".join) | st.text(max_size=60)
"""Chains of :func:`specs`, or any text."""
