"""The member selectors: which provider serves a stream's next connection."""

from __future__ import annotations

import pytest
from fakes import FakeOptions, FakeProvider
from livekit.agents import APIConnectOptions

import speechkit
from speechkit.errors import APIConnectionError, ServerError
from speechkit.fallback import ChainMembers
from speechkit.stream.members import OneProvider

CONN = APIConnectOptions(max_retry=3, retry_interval=0.1, timeout=5.0)


def chain(n: int = 3) -> tuple[speechkit.FallbackSTT, ChainMembers]:
    stts = [speechkit.STT(FakeProvider(FakeOptions(model=f"m{i}"))) for i in range(n)]
    fallback = speechkit.FallbackSTT(stts, max_retry_per_stt=1, recovery_interval=0.0)
    return fallback, ChainMembers(fallback, [(i, s.hooks) for i, s in enumerate(stts)], CONN)


def test_one_providers_failure_is_the_streams() -> None:
    one = OneProvider(FakeProvider(FakeOptions()), CONN, 60.0)
    err = ServerError("boom")
    with pytest.raises(ServerError):
        one.failed(err, 1.0)
    assert one.next() is one.provider and not one.move_back()


def test_a_failed_member_hands_over_to_the_next_and_reports_the_gap_once() -> None:
    fallback, members = chain()
    first = members.next()
    members.failed(ServerError("boom"), replay_seconds=2.5)
    assert members.next() is not first and members.next().options.model == "m1"
    assert not fallback.available(0)
    gap = members.failover()
    assert gap is not None and gap[1] == 2.5 and gap[0] >= 0.0
    assert members.failover() is None


def test_when_every_member_failed_the_error_names_each() -> None:
    _, members = chain(2)
    members.failed(ServerError("first down"), 0.0)
    with pytest.raises(APIConnectionError, match=r"first down.*second down") as info:
        members.failed(ServerError("second down"), 0.0)
    assert not info.value.retryable


async def test_a_recovered_member_is_moved_back_to_once_until_the_next_connection() -> None:
    fallback, members = chain()
    members.failed(ServerError("boom"), 0.0)
    members.next()
    assert not members.move_back()  # member 0 is still failed
    await fallback.probe(0, fallback.members[0].hooks, 1.0)  # a connect and handshake: it is up
    assert fallback.available(0)
    assert members.move_back()
    assert members.provider.options.model == "m0"
    assert not members.move_back()  # already moving: once until the next connection opens
    assert members.next().options.model == "m0"


def test_options_reach_each_member_that_has_them() -> None:
    _, members = chain(2)
    members.update(interim_results=False)
    assert members.provider.options.interim_results is False
    members.failed(ServerError("boom"), 0.0)
    assert members.next().options.interim_results is False


def test_an_option_no_member_has_is_refused_and_nothing_changes() -> None:
    _, members = chain(2)
    before = members.provider
    with pytest.raises(speechkit.ConfigError, match=r"no member of .* has an option 'bogus'"):
        members.update(bogus=1)
    assert members.provider is before
