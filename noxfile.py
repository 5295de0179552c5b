"""Developer sessions: nox -s tests | conformance | lint | typecheck | bench."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (no network: servers run on 127.0.0.1), with the vendors' own clients."""
    session.install("-e", ".[all]", "pytest-xdist>=3.6")
    session.run("python", "-m", "pytest", "-q", "-n", "auto", *session.posargs)


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
    """Benchmarks: start-up, failover against livekit's FallbackAdapter, the local provider
    (WER of file mode, streaming mode and faster-whisper's transcribe per file and condition;
    RTF, peak RSS, latencies for 1, 2 and 4 real-time streams), then cost per stream, added
    latency and scale of the network providers next to LiveKit's plugins (bench_providers.py).

    The local benchmark runs on the real-speech set in $SPEECHDATA (default /work/speechdata),
    built there by bench/fetch_speech.sh when it is missing (SPEECHDATA_FETCH=0: do not fetch;
    without a set it runs on samples/jfk.flac). Arguments go to bench_local.py:
    nox -s bench -- --quick --skip-latency --json wer.json
    """
    session.install("-e", ".[dev]")
    session.run("python", "bench/bench_startup.py")
    session.run("python", "bench/bench_fallback.py")
    args = list(session.posargs)
    if "--manifest" not in args:
        data = Path(os.environ.get("SPEECHDATA", "/work/speechdata"))
        manifest = data / "manifest.jsonl"
        if not manifest.exists() and os.environ.get("SPEECHDATA_FETCH", "1") != "0":
            python = str(Path(session.bin) / "python")
            try:
                session.run(
                    "bash",
                    "bench/fetch_speech.sh",
                    str(data),
                    env={"PY": python, "PIP": f"{python} -m pip"},
                    external=True,
                )
            except nox.command.CommandFailed:
                session.warn("bench/fetch_speech.sh failed: the local benchmark runs on samples/jfk.flac")
        if manifest.exists():
            args = ["--manifest", str(manifest), *args]
    session.run("python", "bench/bench_local.py", *args)
    session.run("python", "bench/bench_providers.py")
