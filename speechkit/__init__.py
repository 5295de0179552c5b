"""speechkit: streaming speech-to-text providers behind one core, for LiveKit Agents.

    import speechkit
    stt = speechkit.stt("local")             # or "telnyx:en", or SPEECHKIT_STT
    stream = stt.stream()

Importing speechkit imports no provider, and none of livekit.agents, aiohttp or numpy:
every name below is loaded on first use (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .config import ProviderSpec, format_spec, parse
    from .connection import Connection, Session
    from .errors import (
        AuthenticationError,
        ConfigError,
        InsecureTransportError,
        InvalidRequestError,
        MissingCredentialsError,
        ProviderUnavailableError,
        RateLimitError,
        ServerError,
    )
    from .events import Finished, Ready, SpeechEnded, SpeechStarted, Transcript, Word
    from .factory import stt
    from .fallback import FallbackStream, FallbackSTT
    from .options import ProviderOptions
    from .plugin import STT
    from .provider import Capabilities, Provider
    from .stream import SpeechStream

_EXPORTS = {
    "STT": "plugin",
    "AuthenticationError": "errors",
    "Capabilities": "provider",
    "ConfigError": "errors",
    "Connection": "connection",
    "FallbackSTT": "fallback",
    "FallbackStream": "fallback",
    "Finished": "events",
    "InsecureTransportError": "errors",
    "InvalidRequestError": "errors",
    "MissingCredentialsError": "errors",
    "Provider": "provider",
    "ProviderOptions": "options",
    "ProviderSpec": "config",
    "ProviderUnavailableError": "errors",
    "RateLimitError": "errors",
    "Ready": "events",
    "ServerError": "errors",
    "Session": "connection",
    "SpeechEnded": "events",
    "SpeechStarted": "events",
    "SpeechStream": "stream",
    "Transcript": "events",
    "Word": "events",
    "format_spec": "config",
    "parse": "config",
    "stt": "factory",
}

__all__ = [
    "STT",
    "AuthenticationError",
    "Capabilities",
    "ConfigError",
    "Connection",
    "FallbackSTT",
    "FallbackStream",
    "Finished",
    "InsecureTransportError",
    "InvalidRequestError",
    "MissingCredentialsError",
    "Provider",
    "ProviderOptions",
    "ProviderSpec",
    "ProviderUnavailableError",
    "RateLimitError",
    "Ready",
    "ServerError",
    "Session",
    "SpeechEnded",
    "SpeechStarted",
    "SpeechStream",
    "Transcript",
    "Word",
    "__version__",
    "format_spec",
    "parse",
    "stt",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'speechkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
