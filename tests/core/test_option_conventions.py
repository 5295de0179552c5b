"""Shared option names mean the same in every provider (speechkit.options' conventions):
durations in seconds, keyterms ``|``-separated, converted to each wire by the provider."""

from __future__ import annotations

import typing
import urllib.parse

import pytest

import speechkit
from speechkit import registry
from speechkit.options import keyterms, milliseconds

SECONDS = ("endpointing", "max_endpointing", "inactivity_timeout")


def _options() -> list[tuple[str, type]]:
    out = []
    for name in registry.names():
        cls = registry.get(name)
        out.append((name, cls.options_class))
    return out


@pytest.mark.parametrize(("provider", "options"), _options())
def test_durations_are_seconds_and_keyterms_use_the_shared_converter(provider: str, options: type) -> None:
    import attrs

    fields = attrs.fields_dict(options)
    hints = typing.get_type_hints(options)
    for name in SECONDS:
        if name in fields and name != "inactivity_timeout":  # AssemblyAI's idle limit: whole seconds
            assert float in typing.get_args(hints[name]) or hints[name] is float, (
                provider,
                name,
                hints[name],
            )
    # no unit in a shared name's place: a millisecond or "silence" option is a duration in disguise
    assert not any(n.endswith("_ms") or "silence" in n for n in fields), (provider, sorted(fields))
    if "keyterms" in fields:
        assert fields["keyterms"].converter is keyterms, provider


def test_keyterms_split_on_bars_or_commas_and_drop_blanks() -> None:
    assert keyterms("LiveKit| speechkit,,Acme ") == ("LiveKit", "speechkit", "Acme")
    assert keyterms(["a b", " "]) == ("a b",)
    assert milliseconds(0.3) == 300 and milliseconds(1.2345) == 1234


def test_assemblyai_endpointing_is_seconds_in_the_config_string_and_ms_on_the_wire() -> None:
    from speechkit.connection import Session

    engine = speechkit.stt("assemblyai?api_key=k&endpointing=0.3&max_endpointing=1.2&keyterms=Acme|LiveKit")
    provider = engine.hooks
    session = Session(sample_rate=16000, language="en", attempt=1, http=None, timeout=5.0)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(provider.url(session)).query))
    assert query["min_turn_silence"] == "300" and query["max_turn_silence"] == "1200"
    assert query["keyterms_prompt"] == '["Acme", "LiveKit"]'
