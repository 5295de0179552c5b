"""Log hygiene: at DEBUG, for every logger, no record carries transcript text or an API key."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ..emulator import FaultPlan
from ..harness import Run, Target, transcribe
from ..requirements import requires

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _texts(records: list[logging.LogRecord]) -> Iterator[str]:
    """Everything a handler could print: the message, the traceback and every ``extra`` field."""
    for record in records:
        yield record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            yield repr(record.exc_info[1])
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
