"""Log hygiene: at DEBUG, for every logger, no record carries transcript text or an API key; nor
does an error a stream ends with (its message, ``repr`` or chained causes)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest

from speechkit.errors import APIError

from ..emulator import FaultPlan
from ..harness import Run, Target, transcribe
from ..requirements import requires

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


_SERVER_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web")
"""The emulator's own loggers: a server's access log shows the URL asked for (a ``?token=`` too)."""

_FAULTS = {
    "refused-401": FaultPlan(refuse_status=401),
    "refused-503-once": FaultPlan(refuse_status=503, refuse_count=1),
    "dropped": FaultPlan(drop_after=0.5),
    "vendor-error": FaultPlan(error_after=0.5),
}
"""Server behaviours whose handling logs or raises (each path formats errors differently)."""


def _error_texts(error: BaseException) -> Iterator[str]:
    """Everything printable of an error: its traceback (causes included), and each linked
    exception's ``str`` and ``repr`` (aiohttp's ``repr`` holds the request headers)."""
    yield "".join(traceback.format_exception(error))
    seen, todo = set[int](), [error]
    while todo:
        e = todo.pop()
        if id(e) not in seen:
            seen.add(id(e))
            yield from (str(e), repr(e))
            todo += [x for x in (e.__cause__, e.__context__) if x is not None]


def _texts(records: list[logging.LogRecord]) -> Iterator[str]:
    """Everything a client's handler could print: the message, the traceback and every ``extra``."""
    for record in records:
        if record.name.startswith(_SERVER_LOGGERS):
            continue
        yield record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            yield from _error_texts(record.exc_info[1])
        if record.exc_text:
            yield record.exc_text
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                yield f"{key}={value!r}"


def _debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


async def _noisy_run(target: Target) -> Run:
    """A run that logs: on an emulator, the connection drops once and the stream reconnects."""
    if target.emulator is not None:
        target.faults(FaultPlan(drop_after=0.5))
    return await transcribe(target.stt(), target.audio.frames(), speed=4.0 if target.emulator else None)


@pytest.mark.asyncio
class TestLogHygiene:
    """Logs help operators without leaking what users said or the vendor credential."""

    async def test_debug_logs_carry_no_transcript_word(
        self, speechkit_target: Target, caplog: pytest.LogCaptureFixture
    ) -> None:
        _debug_everywhere(caplog)
        run = await _noisy_run(speechkit_target)
        secrets = speechkit_target.audio.secret_words()
        assert secrets & set(run.final_words), "nothing recognised: the check would prove nothing"
        leaks = {w for text in _texts(caplog.records) for w in secrets if w in text.lower()}
        assert not leaks, f"transcript words in logs: {sorted(leaks)}"

    @requires("credentials")
    async def test_debug_logs_carry_no_api_key(
        self, speechkit_target: Target, caplog: pytest.LogCaptureFixture
    ) -> None:
        _debug_everywhere(caplog)
        key = speechkit_target.provider().api_key
        assert key
        await _noisy_run(speechkit_target)
        assert caplog.records, "nothing was logged: the check would prove nothing"
        assert not [t for t in _texts(caplog.records) if key in t], "the API key is in the logs"

    @requires("credentials", "emulator")
    @pytest.mark.parametrize("fault", list(_FAULTS))
    async def test_no_api_key_in_logs_or_errors_whatever_the_server_does(
        self, speechkit_target: Target, caplog: pytest.LogCaptureFixture, fault: str
    ) -> None:
        _debug_everywhere(caplog)
        key = speechkit_target.provider().api_key
        assert key
        speechkit_target.faults(_FAULTS[fault])
        error: APIError | None = None
        try:
            await transcribe(speechkit_target.stt(), speechkit_target.audio.frames())
        except APIError as e:
            error = e
        sent = [s for s in speechkit_target.sessions if key in str(s.headers) or key in s.raw_query]
        assert sent, "the key never reached the emulator: the check would prove nothing"
        assert error is not None or caplog.records, "nothing failed and nothing was logged"
        assert not [t for t in _texts(caplog.records) if key in t], "the API key is in the logs"
        assert error is None or not [t for t in _error_texts(error) if key in t], "the key is in the error"
