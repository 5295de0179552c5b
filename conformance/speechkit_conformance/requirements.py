"""What a provider can be tested for: :class:`Requirements`, and the :data:`requires` marker.

Modelled on SQLAlchemy's dialect suite: a provider declares its :class:`speechkit.Capabilities`
once; every suite test states what it needs, and a test whose need is not met is *skipped with
a reason that names the capability*, never failed::

    from speechkit_conformance.requirements import requires

    class TestFlush:
        @requires("flush")              # or @requires.flush
        async def test_flush_finalises_pending_words(self, speechkit_target): ...

``pytest -rs`` then reports, e.g.::

    SKIPPED ... requires 'flush': telnyx (emulator) does not declare Capabilities.flush

A vendor's whole conformance test file is a few lines. In the top-level ``conftest.py``::

    pytest_plugins = ["speechkit_conformance.plugin"]

and in ``tests/test_conformance.py``::

    \"\"\"Acme passes the shared speechkit conformance suite.\"\"\"
    from speechkit_conformance.suite import *  # noqa: F403  (every suite class)

run with ``pytest tests/test_conformance.py --speechkit-provider acme`` (or, without a file,
``pytest -p speechkit_conformance.plugin --pyargs speechkit_conformance.suite
--speechkit-provider acme``). A vendor that needs to open or close a group of tests beyond its
capabilities subclasses :class:`Requirements` and names it with
``--speechkit-requirements acme_tests:AcmeRequirements`` (or the ``speechkit_requirements`` ini
option); a single suite test is changed by subclassing its class and overriding the method.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import pytest

from speechkit import Capabilities, Provider

TargetKind = Literal["emulator", "live", "inprocess"]
"""Where a provider is tested: its loopback emulator, the vendor's live service, or in-process."""

MARKER = "speechkit_requires"
"""Name of the pytest marker :data:`requires` applies."""


@attrs.frozen
class Requirement:
    """One need of a test, met or not for a provider and target.

    Attributes:
        name: The requirement, as tests spell it (``"flush"``).
        enabled: True when the provider and target meet it.
        reason: Why it is not met (the skip reason); names the requirement.
    """

    name: str
    enabled: bool
    reason: str = ""


class Requirements:
    """The requirements a provider meets on a target, from its declared capabilities.

    Each public property returns a :class:`Requirement`. Subclasses may override any of them
    or add new ones (and tests may then ``@requires("new_name")``).

    Args:
        provider: A configured provider instance (capabilities may be per instance), or its
            class when no instance can be built (the class attributes are used then).
        target: Where the tests run.
    """

    def __init__(self, provider: Provider[Any] | type[Provider[Any]], target: TargetKind) -> None:
        self.provider = provider
        self.target = target
        self.capabilities: Capabilities = provider.capabilities

    @classmethod
    def names(cls) -> list[str]:
        """Every requirement this class knows, sorted."""
        return sorted(
            n for n in dir(cls) if not n.startswith("_") and isinstance(getattr(cls, n, None), property)
        )

    def check(self, names: tuple[str, ...] | list[str]) -> str | None:
        """The skip reason of the first unmet requirement among ``names``, or None when all are met.

        Raises:
            KeyError: a name is not a requirement of this class.
        """
        for name in names:
            if name not in self.names():
                raise KeyError(f"unknown requirement {name!r}; known: {', '.join(self.names())}")
            req: Requirement = getattr(self, name)
            if not req.enabled:
                return req.reason
        return None

    def _capability(self, name: str) -> Requirement:
        enabled = bool(getattr(self.capabilities, name))
        why = f"{self._who} does not declare Capabilities.{name}"
        return Requirement(name, enabled, f"requires {name!r}: {why}")

    @property
    def _who(self) -> str:
        return f"{self.provider.name} ({self.target})"

    # -- declared capabilities -------------------------------------------------------------

    @property
    def interim_results(self) -> Requirement:
        """The provider sends interim transcripts."""
        return self._capability("interim_results")

    @property
    def word_timestamps(self) -> Requirement:
        """Finals carry word timings."""
        return self._capability("word_timestamps")

    @property
    def flush(self) -> Requirement:
        """A flush finalises the current segment."""
        return self._capability("flush")

    @property
    def diarization(self) -> Requirement:
        """Transcripts carry speaker labels."""
        return self._capability("diarization")

    @property
    def update_options(self) -> Requirement:
        """Options can change on a live stream."""
        return self._capability("update_options")

    @property
    def end_of_utterance(self) -> Requirement:
        """The provider itself signals the end of an utterance."""
        return self._capability("end_of_utterance")

    # -- what the target offers --------------------------------------------------------------

    @property
    def emulator(self) -> Requirement:
        """Fault injection and server-side records: the provider's emulator is the target."""
        if self.target == "emulator":
            return Requirement("emulator", True)
        why = "no fault injection or server records" + (
            " (the provider declares no emulator)" if not self.provider.emulator else ""
        )
        return Requirement("emulator", False, f"requires 'emulator': {self._who} offers {why}")

    @property
    def exact_words(self) -> Requirement:
        """The test audio is the oracle's tone words, so words out can be compared one for one."""
        if self.target == "emulator":
            return Requirement("exact_words", True)
        why = "runs on real speech, checked by WER, not word for word (no oracle)"
        return Requirement("exact_words", False, f"requires 'exact_words': {self._who} {why}")

    @property
    def credentials(self) -> Requirement:
        """The provider takes an API key (``credential_env``)."""
        return Requirement(
            "credentials",
            bool(self.provider.credential_env),
            f"requires 'credentials': {self._who} takes no API key (no credential_env)",
        )

    @property
    def heartbeat(self) -> Requirement:
        """The provider pings a network connection (``heartbeat``) to detect a half-open server."""
        enabled = bool(self.capabilities.needs_network and self.provider.heartbeat)
        why = "has no network heartbeat (heartbeat is None or no network)"
        return Requirement("heartbeat", enabled, f"requires 'heartbeat': {self._who} {why}")


class _Requires:
    """The marker factory: ``@requires("flush", "emulator")`` or ``@requires.flush``."""

    def __call__(self, *names: str) -> pytest.MarkDecorator:
        """A marker for a test (or class) that needs every requirement in ``names``."""
        if not names:
            raise TypeError("requires() needs at least one requirement name")
        mark: pytest.MarkDecorator = getattr(pytest.mark, MARKER)
        return mark(*names)

    def __getattr__(self, name: str) -> pytest.MarkDecorator:
        if name.startswith("_"):
            raise AttributeError(name)
        return self(name)


requires = _Requires()
"""Mark a suite test (or class) with the requirements it needs; unmet ones skip it with a reason."""
