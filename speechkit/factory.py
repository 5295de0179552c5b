"""``speechkit.stt(config)``: a ready STT from a config string."""

from __future__ import annotations

import os
from typing import Any

from . import registry
from .config import ProviderSpec, clip, parse
from .errors import ConfigError
from .fallback import FallbackSTT
from .options import build_options
from .plugin import STT
from .provider import Provider

DEFAULT_CONFIG = "local"
"""Used when neither an argument nor ``SPEECHKIT_STT`` is given: the offline engine."""

ENV_VAR = "SPEECHKIT_STT"


def provider_from_spec(spec: ProviderSpec) -> Provider[Any]:
    """Resolve, validate and instantiate the provider a spec names.

    A provider checks its options when it is built (``local`` looks its model up on disk); an
    ``OSError``, ``RuntimeError`` or ``ValueError`` it raises doing so is a value it could not
    use, raised as a ``ConfigError`` naming the provider (``~nosuchuser/model``: no such home).

    Raises:
        ConfigError: unknown provider, unknown option, bad value or missing credential.
    """
    cls = registry.get(spec.provider)
    options = build_options(cls.options_class, spec, provider=spec.provider)
    try:
        return cls(options)
    except ConfigError:
        raise
    except (OSError, RuntimeError, ValueError) as e:
        raise ConfigError(
            f"{spec.provider}: cannot be built from these options ({type(e).__name__}: {clip(str(e), 200)})"
        ) from e


def config_text(config: str | None = None) -> str:
    """The config string to use: ``config``, else ``$SPEECHKIT_STT``, else :data:`DEFAULT_CONFIG`."""
    return config if config is not None else os.environ.get(ENV_VAR) or DEFAULT_CONFIG


def stt(config: str | None = None) -> STT:
    """Build an STT from ``provider[/model][:language][?option=value&...]``.

    Args:
        config: The config string; None reads ``SPEECHKIT_STT``, else ``"local"``.
            A comma-separated list builds a fallback chain, tried in order
            (:class:`speechkit.FallbackSTT`: failover replays what no final covers).

    Returns:
        A :class:`speechkit.STT`, or a :class:`speechkit.FallbackSTT` over several.

    Raises:
        ConfigError: (a ``ValueError``) the string is malformed, names an unknown
            provider or option, gives a bad value, or a credential is missing.
    """
    specs = parse(config_text(config))
    stts = [STT(provider_from_spec(s)) for s in specs]
    if len(stts) == 1:
        return stts[0]
    return FallbackSTT(stts)
