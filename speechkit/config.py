"""Config strings: ``provider[/model][:language][?option=value&...]``, comma-separated for a chain.

The first three parts follow LiveKit's inference strings (``deepgram/nova-3:en``).
Option values are percent-encoded where they contain ``&``, ``=``, ``,``, ``%``
or whitespace (``local?model=/opt/my%20weights``). Examples::

    local
    local/tiny.en:en
    telnyx:en?interim_results=false&base_url=ws://127.0.0.1:8765
    assemblyai:en, speechmatics:en, local        # a fallback chain

Parsing checks syntax only (:func:`parse`); :func:`speechkit.stt` then resolves
the provider and validates options (:mod:`speechkit.options`) and credentials, so every mistake is raised
when the string is read, never when audio first flows. A string is at most :data:`MAX_LENGTH`
characters and a chain at most :data:`MAX_CHAIN` members; errors quote the string shortened
(:func:`shown`), so a huge string gives a short message.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence

import attrs

from .credentials import hide_credentials, redact
from .errors import ConfigError

_PROVIDER = r"[a-z][a-z0-9_-]*"
_MODEL = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_LANGUAGE = r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*|multi"
_KEY = r"[a-z_][a-z0-9_]*"
_HEAD = re.compile(rf"(?P<provider>{_PROVIDER})(?:/(?P<model>{_MODEL}))?(?::(?P<language>{_LANGUAGE}))?")
_VALUE_SAFE = "/:.-_~@+"  # left unescaped by format(); everything else is percent-encoded

_HEAD_CHARS = re.compile(r"[^A-Za-z0-9._/:-]")  # no part of a head holds anything else

GRAMMAR = "provider[/model][:language][?option=value&...]"

MAX_LENGTH = 65536
"""Characters a config string may hold (a long keyterm list fits; a runaway string does not)."""
MAX_CHAIN = 16
"""Members a fallback chain may hold."""
_SHOWN = 80  # characters of a string an error quotes


@attrs.frozen
class ProviderSpec:
    """One parsed ``provider[/model][:language][?options]`` string.

    Attributes:
        provider: Registry name, lower case.
        model: The ``/model`` part, or None.
        language: The ``:language`` part (BCP-47 or ``multi``), or None.
        options: ``(key, value)`` pairs in order, values decoded.
    """

    provider: str
    model: str | None = None
    language: str | None = None
    options: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=lambda o: repr(hide_credentials(o)))

    def __str__(self) -> str:
        """The spec as a config string, credentials (``api_key``, ``token``) shown as ``***``;
        :func:`format_spec` gives the exact string."""
        return format_spec(attrs.evolve(self, options=hide_credentials(self.options)))


def shown(text: str, limit: int = _SHOWN) -> str:
    """``repr(text)``, shortened to about ``limit`` characters with an ellipsis in the middle, for
    error messages (a config string or a value may be huge)."""
    if len(text) <= limit:
        return repr(text)
    half = limit // 2
    return f"{text[:half]!r}…{text[-half:]!r} ({len(text)} characters)"


def clip(message: str, limit: int = 400) -> str:
    """``message`` cut to about ``limit`` characters, the middle elided (a validator's message may
    quote a huge value)."""
    if len(message) <= limit:
        return message
    half = limit // 2
    return f"{message[:half]}…{message[-half:]}"


def _fail(text: str, why: str) -> ConfigError:
    # no api_key in the message
    return ConfigError(redact(f"bad STT config string {shown(text)}: {why}; expected {GRAMMAR}"))


def _check_length(text: object) -> str:
    if not isinstance(text, str):
        raise ConfigError(f"an STT config string must be a str, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise _fail(text, f"it is longer than {MAX_LENGTH} characters")
    return text


def check_language(text: str) -> str:
    """``text`` if it is a language the grammar accepts (a BCP-47 tag, or ``multi``).

    Raises:
        ConfigError: it is not (the ``--language`` of the command line goes through here, so it
            cannot smuggle another part into the string: ``en,de`` or ``en?x=1``).
    """
    if not re.fullmatch(_LANGUAGE, text):
        raise ConfigError(
            f"bad language {shown(text)}: expected a BCP-47 tag such as 'en' or 'en-US', or 'multi'"
        )
    return text


def parse_one(text: str) -> ProviderSpec:
    """Parse one provider spec.

    Raises:
        ConfigError: the string does not follow the grammar; the message says where.
    """
    raw = _check_length(text).strip()
    if not raw:
        raise _fail(text, "it is empty")
    head, sep, query = raw.partition("?")
    m = _HEAD.fullmatch(head)
    if m is None:
        if odd := _HEAD_CHARS.search(head):
            ch, at = odd.group(), len(text) - len(text.lstrip()) + odd.start()  # in `text`, as quoted
            why = f"unexpected character {ch!r} (U+{ord(ch):04X}) at position {at}"
        elif not re.match(_PROVIDER, head):
            why = "the provider name must start with a lower-case letter (a-z, 0-9, '_', '-')"
        elif ":" in head and not re.fullmatch(rf".*:(?:{_LANGUAGE})", head):
            why = "the language must be a BCP-47 tag such as 'en' or 'en-US'"
        else:
            why = "cannot read provider/model (the model may use letters, digits, '.', '_', '-')"
        raise _fail(text, why)
    options: dict[str, str] = {}
    if sep:
        if not query:
            raise _fail(text, "nothing follows '?'")
        for part in query.split("&"):
            key, eq, value = part.partition("=")
            if not eq or not re.fullmatch(_KEY, key):
                raise _fail(text, f"option {shown(part)} is not key=value with a lower-case key")
            if not value:
                raise _fail(text, f"option {shown(key)} has an empty value")
            try:
                decoded = urllib.parse.unquote(value, errors="strict")
            except UnicodeDecodeError as e:
                raise _fail(text, f"option {shown(key)} is not valid percent-encoded UTF-8") from e
            if key in options:
                raise _fail(text, f"option {shown(key)} is given twice")
            options[key] = decoded
    return ProviderSpec(m["provider"], m["model"], m["language"], tuple(options.items()))


def parse(text: str) -> list[ProviderSpec]:
    """Parse a config string: one spec, or a comma-separated fallback chain.

    Raises:
        ConfigError: any part is malformed, the string is over :data:`MAX_LENGTH` characters,
            or the chain is over :data:`MAX_CHAIN` members.
    """
    parts = _check_length(text).split(",")
    if len(parts) > 1 and any(not p.strip() for p in parts):
        raise _fail(text, "a fallback chain has an empty entry")
    if len(parts) > MAX_CHAIN:
        raise _fail(text, f"a fallback chain has at most {MAX_CHAIN} members, this one {len(parts)}")
    return [parse_one(p) for p in parts]


def format_spec(spec: ProviderSpec) -> str:
    """The canonical string of a spec; ``parse_one(format_spec(s)) == s``."""
    out = spec.provider
    if spec.model:
        out += f"/{spec.model}"
    if spec.language:
        out += f":{spec.language}"
    if spec.options:
        out += "?" + "&".join(f"{k}={urllib.parse.quote(v, safe=_VALUE_SAFE)}" for k, v in spec.options)
    return out


def format_chain(specs: Sequence[ProviderSpec]) -> str:
    """The canonical string of a chain."""
    return ", ".join(format_spec(s) for s in specs)
