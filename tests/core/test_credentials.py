"""Credentials (issue 19): a key never goes unencrypted to another machine, never shows in a log
line, an error (its message, ``repr`` or chained cause), a ``repr`` or a printed URL, and TLS
certificates are always verified. Real servers on 127.0.0.1 (the emulators, a TLS server with a
self-signed certificate); nothing reaches another machine."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import ssl
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from livekit.agents import APIConnectOptions
from speechkit_conformance.emulator import Emulator, FaultPlan
from speechkit_conformance.emulators.assemblyai import AssemblyAIConfig, AssemblyAIEmulator
from speechkit_conformance.emulators.speechmatics import SpeechmaticsConfig, SpeechmaticsEmulator
from speechkit_conformance.emulators.telnyx import TelnyxConfig, TelnyxEmulator
from speechkit_conformance.harness import frames_of, transcribe
from speechkit_conformance.oracle import synthesize

import speechkit
from speechkit.config import parse
from speechkit.connection import Session
from speechkit.credentials import check_transport, is_loopback, redact, secrets_in
from speechkit.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConfigError,
    InsecureTransportError,
    InvalidRequestError,
)
from speechkit.transport import WebSocketConnection

SECRET = "sk-test-SECRET-1234"
ROOT = Path(__file__).resolve().parents[2]
FAST = APIConnectOptions(max_retry=2, retry_interval=0.05, timeout=5.0)
RATE = 16000
WORDS = [["alpha", "bravo"], ["charlie", "delta"]]
NOWHERE = "10.255.255.1"  # not loopback, and nothing here ever connects to it


def frames() -> list[Any]:
    return frames_of(synthesize(WORDS, RATE), RATE)


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception it links to (``__cause__`` and ``__context__``)."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        e = todo.pop()
        if id(e) not in seen:
            seen.add(id(e))
            yield e
            todo += [x for x in (e.__cause__, e.__context__) if x is not None]


def error_texts(error: BaseException) -> list[str]:
    """What could be printed of an error: the traceback (causes included), and each link's
    ``str``, ``repr`` and attributes (``body``, ``request_info``…)."""
    texts = ["".join(traceback.format_exception(error))]
    for e in chain(error):
        texts += [str(e), repr(e), repr(vars(e))]
    return texts


SERVER_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web")
"""The emulators' own (server-side) loggers: a server's access log shows the URL it was asked
for, ``?token=`` included, as any vendor's would; the client's logs are what is checked."""


def log_texts(records: list[logging.LogRecord]) -> list[str]:
    """What a handler could print of each client record (the traceback too), and every ``extra``."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    texts = []
    for record in records:
        if record.name.startswith(SERVER_LOGGERS):
            continue
        texts += [formatter.format(record), repr(record.__dict__)]
        if record.exc_info and record.exc_info[1] is not None:
            texts += error_texts(record.exc_info[1])
    return texts


def leaks(texts: list[str]) -> list[str]:
    return [t for t in texts if SECRET in t]


def debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


# -- a key never goes unencrypted to another machine ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8765/v2",
        "ws://127.8.9.10:1/",
        "ws://[::1]:8765/",
        "ws://[::ffff:127.0.0.1]:8765/",
        "ws://localhost:8765/",
        "WS://LOCALHOST.:8765/",
        "http://127.0.0.1:8765/v1/api_keys?type=rt",
        "wss://stt.example.test/",
        "https://stt.example.test/",
    ],
)
def test_loopback_and_tls_urls_may_carry_a_key(url: str) -> None:
    check_transport(url, credentialed=True, insecure_transport=False, provider="acme")


@pytest.mark.parametrize(
    "url, host",
    [
        (f"ws://{NOWHERE}:9/", NOWHERE),
        ("ws://stt.example.test/v2", "stt.example.test"),
        ("http://stt.example.test/v1/api_keys", "stt.example.test"),
        ("ws://localhost:80@evil.example.test/", "evil.example.test"),  # userinfo, not the host
        ("ws://127.0.0.1.evil.example.test/", "127.0.0.1.evil.example.test"),
        ("ws://[::ffff:10.0.0.1]:9/", "::ffff:a00:1"),
        ("ws://127.1:9/", "127.1"),  # only some resolvers read it as loopback
    ],
)
def test_a_key_over_plain_ws_to_another_host_is_refused_naming_the_option(url: str, host: str) -> None:
    with pytest.raises(InsecureTransportError) as info:
        check_transport(url, credentialed=True, insecure_transport=False, provider="acme")
    message, twin = info.value.message, "https://" if url.startswith("http") else "wss://"
    assert repr(host) in message and "insecure_transport=true" in message and twin in message


def test_the_refusal_is_a_final_config_error_and_an_invalid_request() -> None:
    with pytest.raises(InsecureTransportError) as info:
        check_transport(f"ws://{NOWHERE}/", credentialed=True, insecure_transport=False, provider="acme")
    assert isinstance(info.value, ConfigError) and isinstance(info.value, InvalidRequestError)
    assert info.value.retryable is False


def test_insecure_transport_or_no_credential_lets_plain_ws_through() -> None:
    check_transport(f"ws://{NOWHERE}/", credentialed=True, insecure_transport=True, provider="acme")
    check_transport(f"ws://{NOWHERE}/", credentialed=False, insecure_transport=False, provider="acme")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.255.0.9", "::1", "localhost", "Localhost."])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.5", "0.0.0.0", "192.0.2.2", "::", "localhost.example", "", None])
def test_hosts_that_are_not_loopback(host: str | None) -> None:
    assert not is_loopback(host)


def test_a_config_string_with_a_lan_base_url_fails_when_parsed() -> None:
    with pytest.raises(InsecureTransportError) as info:
        speechkit.stt(f"telnyx?api_key={SECRET}&base_url=ws://{NOWHERE}:8765")
    assert "insecure_transport=true" in str(info.value) and not leaks(error_texts(info.value))


def test_insecure_transport_in_the_config_string_allows_a_lan_test_rig() -> None:
    engine = speechkit.stt(f"telnyx?api_key={SECRET}&base_url=ws://{NOWHERE}:8765&insecure_transport=true")
    assert engine.hooks.options.insecure_transport is True


class _Stopped(Exception):
    """Raised by the trace hook: aiohttp was about to start the request."""


@pytest.fixture
async def tracing_session() -> AsyncIterator[tuple[aiohttp.ClientSession, list[str]]]:
    """An aiohttp session that records every request it starts and stops it there, before any
    DNS lookup or connect: what reached aiohttp, with nothing sent anywhere."""
    started: list[str] = []

    async def on_start(_: object, __: object, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(str(params.url.host))
        raise _Stopped

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        yield http, started


def _session(http: aiohttp.ClientSession | None) -> Session:
    return Session(language="en", sample_rate=RATE, attempt=1, http=http, timeout=5.0)


async def _open(http: aiohttp.ClientSession, url: str, headers: dict[str, str], **kw: Any) -> None:
    await WebSocketConnection.open(
        _session(http),
        url=url,
        headers=headers,
        heartbeat=None,
        provider="acme",
        credential_env="ACME_API_KEY",
        classify_close=lambda *_: None,
        **kw,
    )


@pytest.mark.parametrize(
    "url, headers",
    [
        (f"ws://{NOWHERE}:9/v2", {"Authorization": f"Bearer {SECRET}"}),  # Telnyx, Speechmatics
        ("ws://stt.example.test/v3/ws", {"Authorization": SECRET}),  # AssemblyAI's raw key
        (f"ws://stt.example.test/v3/ws?sample_rate=16000&token={SECRET}", {}),  # AssemblyAI's token
        ("ws://stt.example.test/v2?jwt=" + SECRET, {}),  # Speechmatics' browser form
    ],
)
async def test_the_transport_refuses_before_aiohttp_starts_the_request(
    tracing_session: tuple[aiohttp.ClientSession, list[str]], url: str, headers: dict[str, str]
) -> None:
    http, started = tracing_session
    with pytest.raises(InsecureTransportError) as info:
        await _open(http, url, headers)
    assert started == [], "the request reached aiohttp"
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "check_transport"
    assert not leaks(error_texts(info.value))
    # the same request with the option does reach aiohttp (the trace hook stops it there)
    with pytest.raises(_Stopped):
        await _open(http, url, headers, insecure_transport=True)
    assert len(started) == 1


async def test_a_request_without_a_credential_is_not_refused(
    tracing_session: tuple[aiohttp.ClientSession, list[str]],
) -> None:
    http, started = tracing_session
    with pytest.raises(_Stopped):
        await _open(http, f"ws://{NOWHERE}:9/", {"User-Agent": "speechkit"})
    assert started == [NOWHERE]


async def test_a_url_from_the_environment_is_checked_at_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """``SPEECHMATICS_RT_URL`` is read when connecting (no ``base_url`` to check when parsed)."""
    monkeypatch.setenv("SPEECHMATICS_RT_URL", f"ws://{NOWHERE}:9/v2")
    engine = speechkit.stt(f"speechmatics?api_key={SECRET}")
    try:
        with pytest.raises(InsecureTransportError) as info:
            await transcribe(engine, frames(), conn_options=FAST)
    finally:
        await engine.aclose()
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "check_transport"
    assert info.value.retryable is False and not leaks(error_texts(info.value))


async def test_speechmatics_refuses_the_key_over_plain_http_to_another_host() -> None:
    """The temporary-key request (``auth_url``) is the one HTTP request carrying the key."""
    emu = await SpeechmaticsEmulator(SpeechmaticsConfig(api_key=SECRET)).start()
    url = f"speechmatics?api_key={SECRET}&base_url={emu.url}&temporary_key=true&auth_url=http://{NOWHERE}:9"
    engine = speechkit.stt(url)
    try:
        with pytest.raises(InsecureTransportError) as info:
            await transcribe(engine, frames(), conn_options=FAST)
    finally:
        await engine.aclose()
        await emu.stop()
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "check_transport"
    assert emu.sessions == [] and emu.issued == set()


# -- a key never shows in a log line or an error ---------------------------------------------------


# Each case: an emulator accepting SECRET, and the config string of a provider sending it
# ({url}, {auth_url}: the emulator's, {key}: SECRET)
CASES: dict[str, tuple[Callable[[], Emulator], str]] = {
    "telnyx (Authorization: Bearer)": (
        lambda: TelnyxEmulator(TelnyxConfig(api_key=SECRET)),
        "telnyx?api_key={key}&base_url={url}",
    ),
    "speechmatics (Authorization: Bearer)": (
        lambda: SpeechmaticsEmulator(SpeechmaticsConfig(api_key=SECRET)),
        "speechmatics?api_key={key}&base_url={url}",
    ),
    "speechmatics (temporary key over HTTP)": (
        lambda: SpeechmaticsEmulator(SpeechmaticsConfig(api_key=SECRET)),
        "speechmatics?api_key={key}&base_url={url}&temporary_key=true&auth_url={auth_url}",
    ),
    "assemblyai (Authorization, raw)": (
        lambda: AssemblyAIEmulator(AssemblyAIConfig(api_key=SECRET, auth_failure="http")),
        "assemblyai?api_key={key}&base_url={url}",
    ),
    "assemblyai (?token= in the query)": (  # so every URL aiohttp prints holds it
        lambda: AssemblyAIEmulator(
            AssemblyAIConfig(tokens=(SECRET,), single_use_tokens=False, auth_failure="http")
        ),
        "assemblyai?token={key}&base_url={url}",
    ),
}
FAULTS = {
    "refused 401": FaultPlan(refuse_status=401),
    "refused 503, then served": FaultPlan(refuse_status=503, refuse_count=1),
    "dropped mid-stream": FaultPlan(drop_after=0.3),
    "vendor error frame": FaultPlan(error_after=0.3),
}


async def _started(case: str, faults: FaultPlan) -> tuple[Emulator, str]:
    """The case's emulator, started with ``faults``, and its config string."""
    make, template = CASES[case]
    emu = make()
    emu.faults = faults
    await emu.start()
    return emu, template.format(key=SECRET, url=emu.url, auth_url=getattr(emu, "auth_url", ""))


async def _run_case(case: str, faults: FaultPlan) -> tuple[Emulator, APIError | None]:
    """A stream of the case's provider against its emulator; the error it ended with, if any."""
    emu, config = await _started(case, faults)
    engine = speechkit.stt(config)
    try:
        await transcribe(engine, frames(), conn_options=FAST)
    except APIError as e:
        return emu, e
    finally:
        await engine.aclose()
        await emu.stop()
    return emu, None


def _key_went_out(emu: Emulator) -> bool:
    """The emulator received the key: in a header, in the query, or at the temporary-key mock."""
    on_wire = any(SECRET in str(s.headers) or SECRET in s.raw_query for s in emu.sessions)
    return on_wire or bool(getattr(emu, "issued", None))


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("case", list(CASES))
async def test_no_key_in_debug_logs_or_errors_whatever_the_server_does(
    case: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    debug_everywhere(caplog)
    emu, error = await _run_case(case, FAULTS[fault])
    assert _key_went_out(emu), "the key never reached the server: the check would prove nothing"
    if fault == "refused 401":
        assert isinstance(error, AuthenticationError), error
    assert error is not None or caplog.records, "nothing failed and nothing was logged"
    assert not leaks(log_texts(caplog.records)), "the key is in a log record"
    assert error is None or not leaks(error_texts(error)), "the key is in the error"


ECHOES = {  # a vendor error frame that quotes the key back, per vendor (auth errors: final)
    "telnyx (Authorization: Bearer)": {
        "errors": [{"code": "10009", "title": "Authentication failed", "detail": f"no such key: {SECRET}"}]
    },
    "speechmatics (Authorization: Bearer)": {
        "message": "Error",
        "type": "not_authorised",
        "reason": f"no such key: {SECRET}",
    },
    "assemblyai (Authorization, raw)": {
        "type": "Error",
        "error_code": 1008,
        "error": f"no such key: {SECRET}",
    },
}


@pytest.mark.parametrize("case", list(ECHOES))
async def test_a_vendor_error_quoting_the_key_is_raised_without_it(case: str) -> None:
    _, error = await _run_case(case, FaultPlan(error_after=0.0, error_message=ECHOES[case]))
    assert error is not None and "no such key: ***" in str(error), error
    assert not leaks(error_texts(error))


async def test_an_unparseable_url_holding_a_token_is_not_printed(caplog: pytest.LogCaptureFixture) -> None:
    """aiohttp's ``InvalidURL`` prints the whole URL, query (and token) included. A config
    string's bad ``base_url`` is refused when parsed (naming no token); a URL a provider builds
    reaches the transport, which redacts it."""
    debug_everywhere(caplog)
    with pytest.raises(speechkit.ConfigError) as refused:
        speechkit.stt(f"assemblyai?token={SECRET}&base_url=ws://127.0.0.1:99999")
    assert not leaks(error_texts(refused.value))
    async with aiohttp.ClientSession() as http:
        session = Session(language="en", sample_rate=16000, attempt=1, http=http, timeout=2.0)
        with pytest.raises(APIConnectionError) as info:
            await WebSocketConnection.open(
                session,
                url=f"ws://127.0.0.1:99999/v3/ws?token={SECRET}",
                headers={},
                heartbeat=None,
                provider="assemblyai",
                credential_env=None,
                classify_close=lambda code, reason, session: None,
                secrets=[SECRET],
            )
    assert "InvalidUrlClientError" in str(info.value) and "token=***" in str(info.value)
    assert not leaks(error_texts(info.value)) and not leaks(log_texts(caplog.records))


async def test_a_bad_temporary_key_answer_chains_no_key() -> None:
    """aiohttp's response errors carry the request headers (``Authorization: Bearer <key>``)."""

    async def not_json(request: web.Request) -> web.Response:
        return web.Response(status=201, text="not json")

    app = web.Application()
    app.router.add_post("/v1/api_keys", not_json)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    auth_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    engine = speechkit.stt(f"speechmatics?api_key={SECRET}&temporary_key=true&auth_url={auth_url}")
    try:
        with pytest.raises(APIConnectionError, match="no temporary key") as info:
            await transcribe(engine, frames(), conn_options=FAST)
    finally:
        await engine.aclose()
        await runner.cleanup()
    assert "ContentTypeError" in str(info.value) and not leaks(error_texts(info.value))


def test_redact_removes_known_secrets_credential_parameters_and_passwords() -> None:
    url = f"ws://user:{SECRET}@127.0.0.1/v3/ws?sample_rate=16000&token={SECRET}&jwt=eyJabc.def"
    assert redact(url) == "ws://user:***@127.0.0.1/v3/ws?sample_rate=16000&token=***&jwt=***"
    assert redact(f"'Authorization': 'Bearer {SECRET}'") == "'Authorization': 'Bearer ***'"
    assert redact(f"the key {SECRET} was refused", {SECRET}) == "the key *** was refused"
    assert secrets_in("ws://h/?token=a%2Fb%2Bc", {"Authorization": "Bearer k3y-value"}) >= {
        "a/b+c",
        "a%2Fb%2Bc",
        "k3y-value",
    }


# -- a key never shows in a repr or a config error ------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        f"telnyx?api_key={SECRET}",
        f"speechmatics?api_key={SECRET}&temporary_key=true",
        f"assemblyai?api_key={SECRET}",
        f"assemblyai?token={SECRET}",
        f"telnyx?api_key={SECRET}, assemblyai?token={SECRET}",
    ],
)
async def test_no_key_in_the_repr_of_stt_provider_options_stream_or_spec(config: str) -> None:
    engine = speechkit.stt(config)
    stream = engine.stream()
    try:
        members = getattr(engine, "members", None) or [engine]
        objects: list[object] = [engine, stream, *parse(config)]
        for member in members:
            objects += [member, member.hooks, member.hooks.options]
        texts = [t for o in objects for t in (repr(o), str(o))]
        assert not leaks(texts), [t for t in texts if SECRET in t]
    finally:
        await stream.aclose()
        await engine.aclose()


def test_no_key_in_the_repr_of_a_session_holding_a_temporary_key() -> None:
    session = _session(None)
    session.state["jwt"] = SECRET
    assert SECRET not in repr(session)


@pytest.mark.parametrize(
    "config",
    [
        f"telnyx?api_key={SECRET}&base_url=",  # empty value
        f"telnyx?api_key={SECRET}&nonsense",  # not key=value
        f"Telnyx?api_key={SECRET}",  # bad provider name
        f"telnyx?API_KEY={SECRET}",  # upper-case option
        f"telnyx?api_key={SECRET},",  # empty chain entry
        f"assemblyai?token={SECRET}&token={SECRET}",  # given twice
    ],
)
def test_a_malformed_config_string_is_quoted_without_its_key(config: str) -> None:
    with pytest.raises(ConfigError) as info:
        speechkit.stt(config)
    assert "bad STT config string" in str(info.value) and not leaks(error_texts(info.value))


# -- the command line --------------------------------------------------------------------------------


async def _cli(*args: str) -> tuple[int, str]:
    """``python -m speechkit ARGS`` in a fresh process; its exit code and stdout + stderr."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "speechkit",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return int(proc.returncode or 0), out.decode()


SAMPLE = str(ROOT / "samples" / "jfk.flac")


async def test_the_cli_prints_no_key_for_a_malformed_config_string() -> None:
    code, out = await _cli("transcribe", SAMPLE, "--stt", f"telnyx?api_key={SECRET}&nonsense")
    assert code == 2 and "api_key=***" in out and SECRET not in out, out


async def test_the_cli_refuses_a_lan_url_naming_the_option_exit_2() -> None:
    code, out = await _cli(
        "transcribe", SAMPLE, "--stt", f"telnyx?api_key={SECRET}&base_url=ws://{NOWHERE}:9"
    )
    assert code == 2 and "insecure_transport=true" in out and "status_code" not in out, out
    assert SECRET not in out, out


@pytest.mark.parametrize(
    "case, faults, expected",
    [
        ("assemblyai (?token= in the query)", FaultPlan(refuse_status=401), (1, "refused the credentials")),
        ("telnyx (Authorization: Bearer)", FaultPlan(refuse_status=503, refuse_count=1), (0, "retrying")),
        ("telnyx (Authorization: Bearer)", FaultPlan(drop_after=0.5), (0, "retrying")),
    ],
)
async def test_the_cli_at_debug_level_prints_no_key(
    case: str, faults: FaultPlan, expected: tuple[int, str]
) -> None:
    emu, config = await _started(case, faults)
    try:
        code, out = await _cli("-vv", "transcribe", SAMPLE, "--no-progress", "--stt", config)
    finally:
        await emu.stop()
    assert _key_went_out(emu) and (code, expected[1] in out) == (expected[0], True), out
    assert SECRET not in out, out


# -- TLS verification stays on ---------------------------------------------------------------------


def test_no_source_turns_tls_verification_off() -> None:
    pattern = re.compile(
        r"ssl\s*=\s*False|verify_ssl|CERT_NONE|check_hostname\s*=\s*False|_create_unverified"
    )
    sources = [*(ROOT / "speechkit").rglob("*.py"), *(ROOT / "providers").rglob("*.py")]
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sources
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert sources and offenders == []


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by the ``openssl`` command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (needed to make a self-signed certificate)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


async def test_a_self_signed_certificate_fails_the_connection(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    upgrades: list[str] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        upgrades.append(request.headers.get("Authorization", ""))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        # the server works for a client that trusts its certificate...
        trusting = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http, http.ws_connect(f"wss://127.0.0.1:{port}/", ssl=trusting):
            pass
        assert len(upgrades) == 1
        # ...and speechkit, which trusts only the system's CAs, refuses it
        engine = speechkit.stt(f"telnyx?api_key={SECRET}&base_url=wss://127.0.0.1:{port}")
        try:
            with pytest.raises(APIConnectionError) as info:
                await transcribe(engine, frames(), conn_options=FAST)
        finally:
            await engine.aclose()
    finally:
        await runner.cleanup()
    message = info.value.message
    assert "TLS certificate verification failed" in message and "CERTIFICATE_VERIFY_FAILED" in message
    assert info.value.retryable is False and len(upgrades) == 1, "the key reached the server"
    assert not leaks(error_texts(info.value))
