"""Bad config strings through the API: any string builds an STT or raises ``ConfigError``
(never another exception, never a hang), and the error says what was wrong, in one bounded
message (issue 19: bad input)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from bad_strings import config_strings
from fakes import FakeOptions, FakeProvider
from hypothesis import HealthCheck, given, settings

import speechkit
from speechkit import registry
from speechkit.config import MAX_CHAIN, MAX_LENGTH, parse
from speechkit.errors import ConfigError


@pytest.fixture(autouse=True)
def keys_and_fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keys set, so strings get past the credential check to their options."""
    for var in ("TELNYX_API_KEY", "SPEECHMATICS_API_KEY", "ASSEMBLYAI_API_KEY", "FAKEWS_API_KEY"):
        monkeypatch.setenv(var, "test-key")
    registry.register(FakeProvider)
    yield
    registry._runtime.clear()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(config_strings)
def test_any_string_builds_an_stt_or_raises_config_error(text: str) -> None:
    try:
        engine = speechkit.stt(text)
    except ConfigError as e:
        assert len(str(e)) < 2000, "the message echoes a bounded part of the string"
    else:
        assert isinstance(engine, speechkit.STT)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999", "Infinity"])
def test_a_number_option_must_be_finite(value: str) -> None:
    message = f"'response_timeout' must be a number (finite, in digits), got '{value}'"
    with pytest.raises(ConfigError, match=re.escape(message)):
        speechkit.stt(f"fake?response_timeout={value}")


@pytest.mark.parametrize("value", ["١٦٠٠٠", "16_000", " 16000", "16000 ", "0x3e80", "1.6e4", "+"])
def test_an_integer_option_takes_ascii_digits_only(value: str) -> None:
    with pytest.raises(ConfigError, match="'sample_rate' must be an integer"):
        speechkit.stt(f"fake?sample_rate={value.replace(' ', '%20')}")


def test_numbers_in_the_usual_forms_are_accepted() -> None:
    engine = speechkit.stt("fake?sample_rate=+8000&response_timeout=.5")
    assert (engine.hooks.options.sample_rate, engine.hooks.options.response_timeout) == (8000, 0.5)
    assert speechkit.stt("fake?response_timeout=2e1").hooks.options.response_timeout == 20.0


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("lócal", "'ó' (U+00F3) at position 1"),
        ("\ufefflocal", "'\\ufeff' (U+FEFF) at position 0"),
        ("local/tiny\u200b.en", "'\\u200b' (U+200B) at position 10"),
        ("local:日本", "'日' (U+65E5) at position 6"),
    ],
)
def test_a_character_outside_the_grammar_is_named_with_its_position(text: str, where: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"unexpected character {where}")):
        parse(text)


@pytest.mark.parametrize("text", ["a,,b", "fake, ,fake", ",fake", "fake,"])
def test_an_empty_member_of_a_chain_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="a fallback chain has an empty entry"):
        speechkit.stt(text)


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="option 'sample_rate' is given twice"):
        speechkit.stt("fake?sample_rate=8000&interim_results=true&sample_rate=16000")


def test_an_unknown_option_names_a_close_match() -> None:
    with pytest.raises(
        ConfigError, match=r"telnyx has no option 'interm_results'.*did you mean 'interim_results'"
    ):
        speechkit.stt("telnyx:en?interm_results=false")


@pytest.mark.parametrize(
    "url", ["notaurl", "ws://", "http://[::1", "ftp://example.com", "%00", "127.0.0.1:8765"]
)
def test_a_url_option_must_be_an_absolute_ws_or_http_url(url: str) -> None:
    with pytest.raises(ConfigError, match="'base_url' must be a ws://, wss://, http:// or https:// URL"):
        speechkit.stt(f"telnyx:en?base_url={url}")


def test_an_emulator_url_is_accepted() -> None:
    engine = speechkit.stt("telnyx:en?base_url=ws://127.0.0.1:8765&api_key=k")
    assert engine.hooks.options.base_url == "ws://127.0.0.1:8765"


def test_many_distinct_options_parse_in_linear_time() -> None:
    letters = "abcdefghijklmnopqrstuvwxyz"
    keys = [a + b + c for a in letters for b in letters for c in letters][:9000]
    text = "fake?" + "&".join(f"{k}=v" for k in keys)  # 54 KB, under the length limit
    t0 = time.monotonic()
    assert len(parse(text)[0].options) == 9000
    assert time.monotonic() - t0 < 0.5  # a quadratic duplicate check took 2-3 s here


def test_a_string_over_the_length_limit_is_refused_with_a_short_message() -> None:
    with pytest.raises(ConfigError, match=f"longer than {MAX_LENGTH} characters") as caught:
        speechkit.stt("fake?model=" + "a" * MAX_LENGTH)
    assert len(str(caught.value)) < 300


def test_a_chain_over_the_member_limit_is_refused_before_building_any() -> None:
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=f"at most {MAX_CHAIN} members"):
        speechkit.stt(", ".join(["telnyx:en"] * 2000))  # built one by one: 12 s before the limit
    assert time.monotonic() - t0 < 0.5


def test_an_error_quotes_a_long_string_shortened() -> None:
    with pytest.raises(ConfigError) as caught:
        speechkit.stt("fake?model=" + "a" * 5000 + "&x")
    assert len(str(caught.value)) < 400 and "…" in str(caught.value)


class _PathProvider(FakeProvider):
    """Looks its model up on disk when built, as ``local`` does."""

    name: ClassVar[str] = "pathfake"

    def __init__(self, options: FakeOptions) -> None:
        super().__init__(options)
        (Path(options.model).expanduser() / "model.bin").is_file()


@pytest.mark.parametrize(
    ("model", "error"), [("~nosuchuser/x", "RuntimeError"), ("a" * 5000, "OSError"), ("a/" * 3000, "OSError")]
)
def test_an_os_error_building_the_provider_is_a_config_error_naming_it(model: str, error: str) -> None:
    registry.register(_PathProvider)
    with pytest.raises(ConfigError, match=rf"^pathfake: cannot be built from these options \({error}: "):
        speechkit.stt(f"pathfake?model={model}")


def test_local_with_a_model_under_an_unknown_home_is_a_config_error() -> None:
    pytest.importorskip("speechkit_providers.local")
    with pytest.raises(ConfigError, match="Could not determine home directory"):
        speechkit.stt("local?model=~nosuchuser/x")


def test_fakes_still_build() -> None:  # the fixtures above leave a working registry
    assert isinstance(speechkit.stt("fake:en?interim_results=false"), speechkit.STT)
    assert isinstance(speechkit.stt("fake, fake"), speechkit.FallbackSTT)
