"""The shared conformance suite: test classes collected by pytest, one module per concern.

Run it with the plugin (see :mod:`speechkit_conformance.plugin`)::

    pytest -p speechkit_conformance.plugin --pyargs speechkit_conformance.suite --speechkit-provider NAME

or import every class into a vendor's own test file (see
:mod:`speechkit_conformance.requirements`)::

    from speechkit_conformance.suite import *  # noqa: F403

Each class can be subclassed to override a single test, as in SQLAlchemy's dialect suite.
"""

from __future__ import annotations

from .test_bad_input import TestBadInput
from .test_errors import TestErrors
from .test_framing import TestFraming
from .test_grammar import TestEventGrammar
from .test_lifecycle import TestLifecycle
from .test_logs import TestLogHygiene
from .test_reconnect import TestHalfOpen, TestReconnect, TestSilentFailure, TestStreamClock
from .test_server_messages import TestServerMessages
from .test_update import TestUpdateOptions

__all__ = [
    "TestBadInput",
    "TestErrors",
    "TestEventGrammar",
    "TestFraming",
    "TestHalfOpen",
    "TestLifecycle",
    "TestLogHygiene",
    "TestReconnect",
    "TestServerMessages",
    "TestSilentFailure",
    "TestStreamClock",
    "TestUpdateOptions",
]
