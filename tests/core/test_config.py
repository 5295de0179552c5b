"""Config strings: grammar, round trip, and errors at parse time."""

from __future__ import annotations

import contextlib

import pytest
from fakes import FakeProvider, WSProvider
from hypothesis import given
from hypothesis import strategies as st

import speechkit
from speechkit import registry
from speechkit.config import ProviderSpec, format_chain, format_spec, parse, parse_one
from speechkit.errors import ConfigError, MissingCredentialsError, ProviderUnavailableError

providers = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
models = st.none() | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
languages = st.none() | st.sampled_from(["en", "en-US", "de", "fr-CA", "multi", "zh-Hant-TW"])
keys = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
values = st.text(min_size=1, max_size=12)
specs = st.builds(
    ProviderSpec,
    providers,
    models,
    languages,
    st.lists(st.tuples(keys, values), max_size=4, unique_by=lambda kv: kv[0]).map(tuple),
)


def test_livekit_style_head_is_parsed() -> None:
    assert parse_one("speechmatics/enhanced:en") == ProviderSpec("speechmatics", "enhanced", "en")


def test_options_are_percent_decoded() -> None:
    spec = parse_one("local?model=/opt/my%20weights&interim_results=false")
    assert spec.options == (("model", "/opt/my weights"), ("interim_results", "false"))


def test_a_comma_separated_list_is_a_chain() -> None:
    assert [s.provider for s in parse("assemblyai:en, speechmatics:en, local")] == [
        "assemblyai",
        "speechmatics",
        "local",
    ]


@given(specs)
def test_format_then_parse_round_trips(spec: ProviderSpec) -> None:
    assert parse_one(format_spec(spec)) == spec


@given(st.lists(specs, min_size=1, max_size=3))
def test_chains_round_trip(chain: list[ProviderSpec]) -> None:
    assert parse(format_chain(chain)) == chain


@given(st.text(max_size=40))
def test_any_string_parses_or_raises_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):  # any other exception type fails the test
        parse(text)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "  ",
        "Local",
        "local/",
        "local:",
        "local?",
        "local?x",
        "local?a=1&a=2",
        "local?A=1",
        "local:e",
        "a,,b",
        "local?k=",
        "/model",
        "local?k=%ff",
    ],
)
def test_malformed_strings_raise_config_error(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse(bad)


@pytest.fixture
def fakes_registered():
    registry.register(FakeProvider)
    registry.register(WSProvider)
    yield
    registry._runtime.clear()


def test_unknown_provider_suggests_a_close_match(fakes_registered: None) -> None:
    with pytest.raises(ProviderUnavailableError, match="did you mean 'fake'"):
        speechkit.stt("fak")


def test_unknown_option_names_the_accepted_ones(fakes_registered: None) -> None:
    with pytest.raises(ConfigError, match=r"no option 'interim_result'.*did you mean 'interim_results'"):
        speechkit.stt("fake?interim_result=true")


def test_bad_value_names_the_option(fakes_registered: None) -> None:
    with pytest.raises(ConfigError, match="'interim_results' must be true or false"):
        speechkit.stt("fake?interim_results=maybe")


def test_validator_errors_surface_as_config_errors(fakes_registered: None) -> None:
    with pytest.raises(ConfigError, match="sample_rate must be between 8000 and 48000"):
        speechkit.stt("fake?sample_rate=1000")


def test_missing_credentials_fail_at_parse_time(
    fakes_registered: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKEWS_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="FAKEWS_API_KEY"):
        speechkit.stt("fakews:en")


def test_options_are_converted_by_type(fakes_registered: None) -> None:
    engine = speechkit.stt("fake/level:de?interim_results=off&sample_rate=8000")
    assert isinstance(engine, speechkit.STT)
    opts = engine.hooks.options
    assert (opts.language, opts.interim_results, opts.sample_rate) == ("de", False, 8000)


def test_speechkit_stt_env_var_is_the_default(
    fakes_registered: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPEECHKIT_STT", "fake:fr")
    engine = speechkit.stt()
    assert isinstance(engine, speechkit.STT) and engine.language == "fr"
