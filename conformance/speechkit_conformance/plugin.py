"""The speechkit conformance suite as a pytest plugin: providers × targets, fixtures, helpers.

Load it with ``-p speechkit_conformance.plugin`` (or ``pytest_plugins`` in a top-level
``conftest.py``) and collect the suite::

    pytest -p speechkit_conformance.plugin --pyargs speechkit_conformance.suite \\
        --speechkit-provider telnyx -rs

Every test that uses the :func:`speechkit_target` fixture runs once per provider
(``--speechkit-provider NAME``, repeatable; default: the ``speechkit_providers`` ini list,
else every registered provider) and per target:

* ``emulator``: the provider's own emulator (``Provider.emulator``, ``"module:Class"``,
  imported lazily), a real WebSocket server on 127.0.0.1, started for each test. The audio
  is the oracle's tone words (:mod:`speechkit_conformance.oracle`), so words in must equal
  words out, and faults can be injected (:class:`~speechkit_conformance.emulator.FaultPlan`);
* ``live``: the vendor's service, when ``Provider.credential_env`` is set in the
  environment (otherwise skipped, saying which variable to set); real speech;
* ``inprocess``: providers that need no network (``Capabilities.needs_network=False``);
  real speech.

Real speech is ``samples/jfk.flac`` (11 s); it is checked by word error rate
(:data:`MAX_WER`, jiwer, lower-cased, punctuation stripped), and tests that need exact word
identity declare ``@requires("exact_words")`` (see :mod:`.requirements`).
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
import pytest_asyncio

import speechkit
from speechkit import Provider, registry
from speechkit.errors import ConfigError

from .emulator import Emulator, FaultPlan
from .harness import SAMPLE, ConformanceAudio, OracleAudio, SpeechAudio, Target, TargetSpec, load_object
from .requirements import MARKER, Requirements


@attrs.define
class _State:
    """Per-run plugin state: the parametrisation and the requirements class."""

    specs: list[Any]  # pytest ParameterSets of TargetSpec
    requirements_class: type[Requirements]
    _requirements: dict[TargetSpec, Requirements] = attrs.field(factory=dict)

    def requirements(self, spec: TargetSpec) -> Requirements:
        """Requirements of a spec, from a provider built with the target's default options."""
        if spec not in self._requirements:
            cls = registry.get(spec.provider)
            provider: Provider[Any] | type[Provider[Any]] = cls
            options: dict[str, Any] = {}
            if spec.kind == "emulator":
                options = {"api_key": "collection-placeholder", "base_url": "ws://127.0.0.1:9"}
            with contextlib.suppress(ConfigError, ValueError, TypeError):
                provider = cls(cls.options_class(**options))
            self._requirements[spec] = self.requirements_class(provider, spec.kind)
        return self._requirements[spec]


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--speechkit-provider`` and ``--speechkit-requirements`` (and their ini twins)."""
    group = parser.getgroup("speechkit", "speechkit conformance suite")
    group.addoption(
        "--speechkit-provider",
        action="append",
        dest="speechkit_providers",
        metavar="NAME",
        help="run the conformance suite for this registered provider (repeatable; default: all)",
    )
    group.addoption(
        "--speechkit-requirements",
        dest="speechkit_requirements",
        metavar="MODULE:CLASS",
        help="a Requirements subclass to use instead of speechkit_conformance.requirements.Requirements",
    )
    parser.addini("speechkit_providers", "providers the conformance suite runs for", type="linelist")
    parser.addini("speechkit_requirements", "MODULE:CLASS of the Requirements to use", default="")


def _param(spec: TargetSpec, *marks: pytest.MarkDecorator) -> Any:
    return pytest.param(spec, id=spec.id, marks=marks)


def _specs(names: list[str]) -> list[Any]:
    specs: list[Any] = []
    speech_skip = (
        ()
        if SAMPLE.exists()
        else (pytest.mark.skip(reason=f"real-speech targets need {SAMPLE} (a source checkout)"),)
    )
    for name in names:
        try:
            cls = registry.get(name)
        except ConfigError as e:
            raise pytest.UsageError(f"--speechkit-provider: {e}") from e
        if cls.emulator:
            specs.append(_param(TargetSpec(name, "emulator")))
        if cls.credential_env:
            live = () if os.environ.get(cls.credential_env) else (
                pytest.mark.skip(reason=f"set {cls.credential_env} to run against the live service"),
            )  # fmt: skip
            specs.append(_param(TargetSpec(name, "live"), *live, *speech_skip))
        if not cls.capabilities.needs_network:
            specs.append(_param(TargetSpec(name, "inprocess"), *speech_skip))
    return specs


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; resolve the providers and the requirements class."""
    config.addinivalue_line(
        "markers", f"{MARKER}(*names): the test needs these speechkit requirements (else skipped)"
    )
    names = config.getoption("speechkit_providers", None) or config.getini("speechkit_providers")
    names = list(dict.fromkeys(names or registry.names()))
    req_spec = config.getoption("speechkit_requirements", None) or config.getini("speechkit_requirements")
    req_class = load_object(req_spec) if req_spec else Requirements
    if not (isinstance(req_class, type) and issubclass(req_class, Requirements)):
        raise pytest.UsageError(f"{req_spec!r} is not a Requirements subclass")
    config.stash[_STATE] = _State(_specs(names), req_class)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test using ``speechkit_target`` over providers × targets."""
    if "speechkit_target" in metafunc.fixturenames:
        metafunc.parametrize("speechkit_target", metafunc.config.stash[_STATE].specs, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests whose ``@requires(...)`` the provider does not meet on their target, with the reason."""
    state = config.stash[_STATE]
    for item in items:
        callspec = getattr(item, "callspec", None)
        spec = callspec.params.get("speechkit_target") if callspec else None
        names = [n for mark in item.iter_markers(MARKER) for n in mark.args]
        if not isinstance(spec, TargetSpec) or not names:
            continue
        try:
            reason = state.requirements(spec).check(names)
        except KeyError as e:
            raise pytest.UsageError(f"{item.nodeid}: {e.args[0]}") from e
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Skipped tests summarised by reason, one line per reason with its count (most first)."""
    reasons: collections.Counter[str] = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.write_sep("-", f"speechkit conformance: {sum(reasons.values())} skipped, by reason")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count:4d} {reason}")


# -- fixtures ---------------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="function")
async def speechkit_target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    """The provider on its target; an emulator target's server runs for the test's duration."""
    spec: TargetSpec = request.param
    state = request.config.stash[_STATE]
    cls = registry.get(spec.provider)
    audio: ConformanceAudio = OracleAudio() if spec.kind == "emulator" else SpeechAudio()
    emulator: Emulator | None = None
    if spec.kind == "emulator":
        assert cls.emulator is not None
        emulator_class = load_object(cls.emulator)
        emulator = emulator_class(faults=FaultPlan())
        await emulator.start()
    target = Target(spec, cls, state.requirements(spec), audio, emulator)
    try:
        yield target
    finally:
        await target.aclose()
        if emulator is not None:
            await emulator.stop()


@pytest.fixture
def speechkit_stt(speechkit_target: Target) -> speechkit.STT:
    """A ready ``speechkit.STT`` for the target (closed after the test)."""
    return speechkit_target.stt()


@pytest.fixture
def speechkit_audio(speechkit_target: Target) -> ConformanceAudio:
    """The target's test audio: oracle words (emulator) or real speech (live, in-process)."""
    return speechkit_target.audio
