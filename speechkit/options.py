"""Provider options: the base class, and the conversion of config-string values onto it.

Every provider's options class subclasses :class:`ProviderOptions` (a frozen attrs class with
validators). A config string's ``?key=value`` parameters arrive as text and are converted by
the field's type (:func:`convert_value`) before the class's own validators run
(:func:`build_options`), so a bad value fails with the same message however it arrived;
:func:`changed_options` tells which options differ between two instances, for a provider
deciding whether a change applies on the live connection.

Shared option names mean the same in every provider, whatever the vendor's wire says; a
provider converts to its wire in its hooks:

* durations are **seconds** (float), as livekit-agents' are (``min_endpointing_delay``):
  ``endpointing`` is the silence that ends an utterance, ``max_endpointing`` the silence that
  always ends it, ``inactivity_timeout`` the idle limit. A vendor that takes milliseconds gets
  :func:`milliseconds` of the value (AssemblyAI's ``min_turn_silence``, Deepgram's
  ``endpointing``);
* ``keyterms`` are words or phrases to boost, a tuple in code and ``|``-separated in a config
  string (``keyterms=LiveKit|speechkit``; a ``,`` there separates fallback members, so ``,``
  inside a value must be written ``%2C``); :func:`keyterms` converts either;
* ``sample_rate`` is Hz; ``language`` is BCP-47 (``en-US``); ``interim_results`` asks for
  interim transcripts; ``diarization`` labels speakers.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
import urllib.parse
from collections.abc import Iterable
from typing import Any

import attrs

from .config import ProviderSpec, clip, shown
from .errors import ConfigError


def _positive_rate(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 8000 or value > 48000:
        raise ValueError(f"{attribute.name} must be between 8000 and 48000 Hz, got {value}")


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 < value < math.inf:  # NaN too
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value}")


def keyterms(value: str | Iterable[object]) -> tuple[str, ...]:
    """The ``keyterms`` converter every provider uses: a tuple of stripped, non-empty terms from
    a config-string value separated by ``|`` (or ``,``, written ``%2C`` in a config string) or
    from any iterable."""
    items = value.replace("|", ",").split(",") if isinstance(value, str) else value
    return tuple(str(t).strip() for t in items if str(t).strip())


def milliseconds(seconds: float) -> int:
    """A duration option (seconds, see the module docs) as a wire's whole milliseconds."""
    return round(seconds * 1000)


@attrs.frozen(kw_only=True)
class ProviderOptions:
    """Base of every provider's options; the target of config-string ``?key=value`` options.

    Subclasses add their fields (with validators and converters) and override
    defaults. Values arriving from a config string are strings; the core converts
    them by the field's type (``bool``, ``int``, ``float``, ``str``) before the
    class's own validators run, so a bad value fails with the same message
    however it arrived.

    Attributes:
        model: The provider's model (the ``/model`` part of a config string).
        language: BCP-47 language (the ``:language`` part), e.g. ``"en"``.
        sample_rate: Rate in Hz the audio is sent at; the core resamples to it.
        api_key: Credential; None to read the provider's environment variable.
        base_url: Endpoint override (an emulator on 127.0.0.1, a regional host).
        insecure_transport: Allow the key over unencrypted ``ws://``/``http://`` to a host
            outside the loopback range (a test rig on the LAN); off, such a URL fails with
            :class:`~speechkit.errors.InsecureTransportError`. Loopback hosts never need it,
            and TLS certificates are verified either way.
        response_timeout: Seconds without any server message, while audio awaits
            transcription, after which the connection counts as half-open and is replaced
            (the audio is replayed); None for the provider's default
            (:attr:`Provider.response_timeout`).
        transcript_timeout: Seconds a connection that keeps answering (pings,
            acknowledgements, empty results) may go without a transcript holding words
            while the stream sends it whole utterances of speech (see
            :data:`speechkit.stream.watchdog.MUTE_UTTERANCES`); past it the connection is
            replaced as dead, its audio replayed, and a chain fails over once retries are
            spent. None for the provider's default (:attr:`Provider.transcript_timeout`).
    """

    model: str = ""
    language: str = "en"
    sample_rate: int = attrs.field(default=16000, validator=_positive_rate)
    api_key: str | None = attrs.field(default=None, repr=False)
    base_url: str | None = None
    insecure_transport: bool = False
    response_timeout: float | None = attrs.field(default=None, validator=attrs.validators.optional(_positive))
    transcript_timeout: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )


def suggest(word: str, choices: Iterable[str]) -> str:
    """'; did you mean X?' for a close match, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_option(provider: str, key: str, fields: Iterable[str]) -> ConfigError:
    """The error for an option the provider does not have: what it has, and a close match."""
    names = sorted(fields)
    return ConfigError(
        f"{provider} has no option {shown(key)}; options: {', '.join(names)}{suggest(key, names)}"
    )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# numbers as written in a URL, in ASCII: no '_' separators, spaces or other scripts' digits
# (int() and float() take all three), no nan or inf
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_URL_SCHEMES = ("ws", "wss", "http", "https")


def convert_value(name: str, value: str, hint: Any) -> Any:
    """Convert a config-string value by a field's type hint (bool, int, float, Literal, optional).

    Integers are ASCII digits with an optional sign; numbers also take a fraction and an
    exponent (``.5``, ``2e1``) and must be finite; an option named ``*_url`` must be a URL
    (:func:`check_url`).

    Raises:
        ConfigError: the value does not fit the type; the message names ``name``.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value.lower() == "none" and len(args) < len(typing.get_args(hint)):
            return None
        return convert_value(name, value, args[0])
    if hint is bool:
        low = value.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ConfigError(f"option {name!r} must be true or false, got {shown(value)}")
    if hint is int:
        try:
            if _INT.fullmatch(value):
                return int(value)
        except ValueError:  # over Python's 4300 digits
            pass
        raise ConfigError(f"option {name!r} must be an integer, got {shown(value)}")
    if hint is float:
        number = float(value) if _FLOAT.fullmatch(value) else math.nan
        if not math.isfinite(number):  # also 1e999, which float() makes inf
            raise ConfigError(f"option {name!r} must be a number (finite, in digits), got {shown(value)}")
        return number
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(
                f"option {name!r} must be one of {', '.join(map(str, allowed))}; "
                f"got {shown(value)}{suggest(value, map(str, allowed))}"
            )
        return value
    if name.endswith("_url"):
        check_url(name, value)
    return value


def check_url(name: str, value: str) -> None:
    """Refuse an endpoint option (``base_url``, any ``*_url``) that is not an absolute
    ``ws``/``wss``/``http``/``https`` URL with a host, when it is parsed rather than when the
    stream first connects.

    Raises:
        ConfigError: naming the option and the value.
    """
    try:
        parts = urllib.parse.urlsplit(value)
        _ = parts.port  # a bad port raises ValueError
        ok = parts.scheme in _URL_SCHEMES and bool(parts.hostname) and value.isprintable()
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(
            f"option {name!r} must be a ws://, wss://, http:// or https:// URL with a host, "
            f"got {shown(value)}"
        )


def build_options(cls: type[ProviderOptions], spec: ProviderSpec, *, provider: str) -> ProviderOptions:
    """Build ``cls`` from a spec: model, language and ``?options`` converted by field type.

    Raises:
        ConfigError: unknown option (with a close match), or a value the type or a
            validator refuses; the message names the option and what is accepted.
    """
    fields = {f.name: f for f in attrs.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    if spec.model is not None:
        kwargs["model"] = spec.model
    if spec.language is not None:
        kwargs["language"] = spec.language
    for key, value in spec.options:
        if key in kwargs:
            raise ConfigError(f"{provider}: {key!r} is given both in the string's head and as an option")
        if key not in fields:
            raise unknown_option(provider, key, fields)
        kwargs[key] = convert_value(key, value, hints.get(key, str))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{provider}: {clip(str(e))}") from e


def changed_options(old: ProviderOptions, new: ProviderOptions) -> frozenset[str]:
    """Names of the fields whose values differ between two options of one class.

    Raises:
        TypeError: ``old`` and ``new`` are not of the same class.
    """
    if type(old) is not type(new):
        raise TypeError(f"cannot compare {type(old).__name__} with {type(new).__name__}")
    return frozenset(f.name for f in attrs.fields(type(old)) if getattr(old, f.name) != getattr(new, f.name))
