"""The helpers the hook API gives a provider: JSON decoding, vendor errors with the standard
fixes, and which options a live connection can take."""

from __future__ import annotations

import logging
from typing import ClassVar

import attrs
import pytest

import speechkit
from speechkit.errors import (
    AuthenticationError,
    InvalidRequestError,
    RateLimitError,
    ServerError,
    classified_error,
    error_for_status,
)


@attrs.frozen(kw_only=True)
class AcmeOptions(speechkit.ProviderOptions):
    boost: float = 1.0
    diarization: bool = False


class Acme(speechkit.Provider[AcmeOptions]):
    name: ClassVar[str] = "acme"
    options_class = AcmeOptions
    credential_env = "ACME_API_KEY"
    live_options = frozenset({"boost"})


ACME = Acme(AcmeOptions(api_key="k"))


def test_decode_json_reads_a_text_or_binary_object() -> None:
    assert ACME.decode_json('{"a": 1}') == ACME.decode_json(b'{"a": 1}') == {"a": 1}


def test_decode_json_gives_an_empty_object_for_json_that_is_not_one() -> None:
    assert ACME.decode_json("[1, 2]") == ACME.decode_json('"text"') == {}


def test_skip_unknown_gives_no_events_and_logs_the_type_at_debug_naming_the_provider(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="speechkit")
    assert ACME.skip_unknown("NewThing") == ()
    (record,) = caplog.records
    assert (
        record.levelno == logging.DEBUG
        and getattr(record, "provider", None) == "acme"
        and "'NewThing'" in record.getMessage()
    )


def test_decode_json_raises_a_retried_server_error_naming_the_provider_for_non_json() -> None:
    with pytest.raises(ServerError, match="acme sent a message that is not JSON") as info:
        ACME.decode_json('{"transcript": "unterminated')
    assert info.value.retryable and "unterminated" not in info.value.message  # never the text


@pytest.mark.parametrize(
    ("kind", "cls", "fix"),
    [
        ("auth", AuthenticationError, "acme error 1: no; set ACME_API_KEY or pass api_key="),
        ("rate_limit", RateLimitError, "acme error 1: no; retrying"),
        ("invalid", InvalidRequestError, "acme error 1: no; check the provider options"),
        ("server", ServerError, "acme error 1: no"),
    ],
)
def test_vendor_error_classifies_and_appends_the_standard_fix(kind: str, cls: type, fix: str) -> None:
    err = ACME.vendor_error(kind, "acme error 1: no", status_code=4001)  # type: ignore[arg-type]
    assert type(err) is cls and err.message == fix and err.status_code == 4001


def test_vendor_error_names_a_subclass_credential_variable() -> None:
    class Rebranded(Acme):
        credential_env = "REBRAND_KEY"

    err = Rebranded(AcmeOptions(api_key="k")).vendor_error("auth", "refused")
    assert err.message == "refused; set REBRAND_KEY or pass api_key=" and err.status_code == 401


def test_classified_error_without_a_credential_variable_says_check_the_credentials() -> None:
    assert classified_error("auth", "refused").message == "refused; check the credentials"


def test_error_for_status_ends_in_the_same_credentials_fix() -> None:
    err = error_for_status(401, provider="acme", credential_env="ACME_API_KEY")
    assert err.message == "acme refused the credentials (HTTP 401); set ACME_API_KEY or pass api_key="


def test_live_changes_names_the_changed_live_options() -> None:
    assert ACME.with_options(boost=2.0).live_changes(ACME) == {"boost"}


def test_live_changes_is_empty_when_nothing_changed() -> None:
    assert ACME.with_options(boost=1.0).live_changes(ACME) == frozenset()


def test_live_changes_is_none_when_an_option_that_is_not_live_changed() -> None:
    assert ACME.with_options(boost=2.0, diarization=True).live_changes(ACME) is None
