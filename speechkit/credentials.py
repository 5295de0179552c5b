"""Credential hygiene: where a key may travel, and its removal from text that may be printed.

Rules every provider gets from the core (the WebSocket transport and the config-string parser
apply them):

* a key never crosses the network unencrypted: :func:`check_transport` refuses a credential
  over ``ws://`` or ``http://`` to a host outside the loopback range (127.0.0.0/8, ``::1``,
  ``localhost``) unless the provider's ``insecure_transport`` option allows it (the name of
  oauthlib's and Authlib's ``*_INSECURE_TRANSPORT`` switches, which also exempt loopback);
* a key never appears in an error message, a log line or a printed URL: :func:`redact`
  removes known secrets and the values of credential parameters (``api_key=``, ``token=``,
  ``jwt=``…) and URL passwords from text, and :func:`scrubbed` stands in for a third-party
  exception whose text or ``repr`` may carry one (aiohttp's handshake errors print the request
  URL, query included, and their ``repr`` the request headers);
* TLS verification stays on: nothing in speechkit turns it off; a certificate that fails
  verification fails the connection.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

from .errors import InsecureTransportError

__all__ = [
    "CREDENTIAL_NAMES",
    "REDACTED",
    "RedactedError",
    "check_transport",
    "hide_credentials",
    "is_loopback",
    "redact",
    "redact_value",
    "scrubbed",
    "secrets_in",
]

REDACTED = "***"
"""What a secret is replaced by."""

CREDENTIAL_NAMES = frozenset(
    {"api_key", "apikey", "token", "access_token", "auth_token", "jwt", "password", "secret"}
)
"""Query parameters and config-string options whose values are credentials (AssemblyAI's
``token``, Speechmatics' ``jwt``, speechkit's ``api_key``), matched case-insensitively."""

SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"})
"""Request headers whose values are credentials (lower case)."""

_PLAIN = {"ws": "wss", "http": "https"}  # unencrypted scheme -> its TLS twin
_MIN_SECRET = 4  # shorter "secrets" are not keys, and replacing them would garble any text
_NAMES = "|".join(sorted(CREDENTIAL_NAMES, key=len, reverse=True))
# name=value in a query or a config string; the value ends at a separator or a quote
_PARAM = re.compile(rf"(?i)(?<![\w-])((?:{_NAMES})=)[^&\s'\",;#)\]>]+")
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/@\s:'\"]*:)[^/@\s'\"]+@")  # scheme://user:PASSWORD@
_SCHEME_AUTH = re.compile(r"(?i)\b(Bearer|Basic|Token)\s+[\w.~+/=-]+")  # an Authorization value in text


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a URL's host, brackets removed) names this machine.

    ``localhost`` (any case, an optional trailing dot), 127.0.0.0/8, ``::1`` and IPv4-mapped
    127.x; a spelling only some resolvers read as loopback (``127.1``) is not.
    """
    if not host:
        return False
    name = host.rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def secrets_in(
    url: str, headers: Mapping[str, str] | None = None, known: Iterable[str | None] = ()
) -> frozenset[str]:
    """The credential values a request carries, as they may appear in text about it.

    Args:
        url: The request URL, query included.
        headers: Its headers; values of :data:`SENSITIVE_HEADERS` count (``Bearer X`` gives both
            ``Bearer X`` and ``X``).
        known: Credentials the caller holds (the provider's API key); None entries are ignored.

    Returns:
        Every secret of at least 4 characters, with the percent-encoded forms of those from the
        query (what aiohttp prints); empty when the request carries none.
    """
    found = {s for s in known if s}
    for name, value in (headers or {}).items():
        if name.lower() in SENSITIVE_HEADERS and value:
            found.add(value)
            found.add(value.partition(" ")[2].strip())
    query = url.partition("?")[2].partition("#")[0]
    found.update(v for k, v in parse_qsl(query) if k.lower() in CREDENTIAL_NAMES)
    password = _USERINFO.search(url)
    if password:
        found.add(url[password.end(1) : password.end() - 1])
    found = {s for s in found if len(s) >= _MIN_SECRET}
    return frozenset(found | {quote(s, safe="") for s in found} | {quote_plus(s) for s in found})


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by :data:`REDACTED`.

    Removes each of ``secrets`` (see :func:`secrets_in`), the value of every credential parameter
    (``token=…``, ``api_key=…``: :data:`CREDENTIAL_NAMES`) in a URL or config string, a URL's
    password, and the credential after ``Bearer``/``Basic``/``Token``, so a secret the caller did
    not know of is removed too when it appears in one of those places.
    """
    for secret in sorted((s for s in secrets if len(s) >= _MIN_SECRET), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _PARAM.sub(lambda m: m[1] + REDACTED, text)
    text = _USERINFO.sub(lambda m: m[1] + REDACTED + "@", text)
    return _SCHEME_AUTH.sub(lambda m: f"{m[1]} {REDACTED}", text)


def redact_value(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """``value`` (text or a vendor's decoded JSON: str, list, tuple, dict) with each of ``secrets``
    replaced by :data:`REDACTED` in every string it holds; other values are returned as they are.

    For what a vendor said: only the known secrets go (a vendor's own words such as ``Bearer
    token missing`` are left as written, unlike :func:`redact`).
    """
    known = [s for s in secrets if s and len(s) >= _MIN_SECRET]
    if isinstance(value, str):
        for secret in sorted(known, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: redact_value(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v, known) for v in value)
    return value


def hide_credentials(options: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Config-string ``(option, value)`` pairs with the values of :data:`CREDENTIAL_NAMES` options
    (``api_key``, ``token``) replaced by :data:`REDACTED`, for a ``repr``."""
    return tuple((k, REDACTED if k.lower() in CREDENTIAL_NAMES else v) for k, v in options)


class RedactedError(Exception):
    """Stands in for a third-party exception as the ``__cause__`` of a speechkit error.

    Its text is the original's type name and redacted ``str``; the original's traceback and
    (redacted in turn) cause are kept, so a traceback still shows where the failure happened.

    Attributes:
        original_type: The original exception's qualified type name (``aiohttp.….InvalidURL``).
    """

    def __init__(self, original: BaseException, secrets: Iterable[str] = ()) -> None:
        try:
            text = str(original)
        except Exception:  # a third-party __str__ may raise on a half-built exception
            text = ""
        kind = type(original)
        self.original_type = f"{kind.__module__}.{kind.__qualname__}"
        super().__init__(f"{kind.__name__}: {redact(text, secrets)}" if text else kind.__name__)


def scrubbed(error: BaseException, secrets: Iterable[str] = (), *, depth: int = 8) -> RedactedError:
    """A :class:`RedactedError` for ``error`` and its chain (``__cause__``, else an unsuppressed
    ``__context__``), to chain a speechkit error from: ``raise APIConnectionError(...) from
    scrubbed(e, secrets)``, raised outside the ``except`` block so the original is not kept as
    its ``__context__`` either.

    Args:
        error: The third-party exception.
        secrets: What to remove from its text (see :func:`secrets_in`).
        depth: How many links of the chain to keep.
    """
    keep = tuple(secrets)
    stand_in = RedactedError(error, keep).with_traceback(error.__traceback__)
    inner = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if inner is not None and depth > 1:
        stand_in.__cause__ = scrubbed(inner, keep, depth=depth - 1)
    return stand_in


def check_transport(url: str, *, credentialed: bool, insecure_transport: bool, provider: str) -> None:
    """Refuse to send a credential unencrypted to another machine; called before any network I/O.

    Args:
        url: Where the request goes (``ws://``, ``wss://``, ``http://``, ``https://``), parsed as
            aiohttp parses it (yarl), so ``ws://localhost:80@evil.example/`` is ``evil.example``.
        credentialed: The request carries a credential (a header or a query parameter).
        insecure_transport: The provider's ``insecure_transport`` option (a test rig on the LAN).
        provider: The provider's name, for the message.

    Raises:
        InsecureTransportError: ``credentialed``, the scheme is ``ws`` or ``http``, the host is not
            loopback (:func:`is_loopback`) and ``insecure_transport`` is off; the message names the
            scheme to use and the option that allows it. Never retried.
    """
    if not credentialed or insecure_transport:
        return
    import yarl  # aiohttp's URL parser; imported here so config strings parse without it

    try:
        parsed = yarl.URL(url)
    except (ValueError, TypeError):
        return  # aiohttp cannot parse it either: it fails before connecting
    scheme = parsed.scheme.lower()
    if scheme not in _PLAIN or is_loopback(parsed.host):
        return
    raise InsecureTransportError(
        f"{provider}: refusing to send the API key unencrypted over {scheme}:// to {parsed.host!r} "
        f"(only loopback hosts may be reached without TLS); use {_PLAIN[scheme]}://, or, for a test "
        f"rig, set insecure_transport=true ('{provider}?base_url=...&insecure_transport=true')"
    )
