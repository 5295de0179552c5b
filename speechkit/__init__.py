"""speechkit: streaming speech-to-text providers behind one core, for LiveKit Agents.

    import speechkit
    stt = speechkit.stt("local")             # or "telnyx:en", or SPEECHKIT_STT
    stream = stt.stream()

Importing speechkit imports no provider: providers load when named.
"""

from __future__ import annotations

from .config import ProviderSpec, format_spec, parse
from .errors import (
    AuthenticationError,
    ConfigError,
    InvalidRequestError,
    MissingCredentialsError,
    ProviderUnavailableError,
    RateLimitError,
    ServerError,
)
from .events import Finished, Ready, SpeechEnded, SpeechStarted, Transcript, Word
from .factory import stt
from .fallback import FallbackStream, FallbackSTT
from .provider import Capabilities, Connection, Provider, ProviderOptions, Session
from .stream import SpeechStream
from .stt import STT

__version__ = "0.1.0"

__all__ = [
    "STT",
    "AuthenticationError",
    "Capabilities",
    "ConfigError",
    "Connection",
    "FallbackSTT",
    "FallbackStream",
    "Finished",
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
    "format_spec",
    "parse",
    "stt",
]
