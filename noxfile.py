"""Developer sessions: nox -s tests | conformance | lint | typecheck | bench."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (no network: servers run on 127.0.0.1), with the vendors' own clients."""
    session.install("-e", ".[all]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(python=PYTHON)
@nox.parametrize("provider", ["local", "telnyx", "speechmatics", "assemblyai"])
def conformance(session: nox.Session, provider: str) -> None:
    """The shared conformance suite for one provider: nox -s "conformance(provider='telnyx')"."""
    session.install("-e", ".[all]")
    session.run("speechkit", "conformance", provider, *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the core package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "speechkit")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: start-up, failover against livekit's FallbackAdapter, then the local provider
    (RTF, peak RSS, latencies for 1, 2 and 4 real-time streams)."""
    session.install("-e", ".[all]")
    session.run("python", "bench/bench_startup.py")
    session.run("python", "bench/bench_fallback.py")
    session.run("python", "bench/bench_local.py", *session.posargs)
    session.install("livekit-plugins-speechmatics==1.4.1")  # the reference for bench_providers.py
    session.run("python", "bench/bench_providers.py")
