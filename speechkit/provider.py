"""The hook API a provider implements.

A provider is a subclass of :class:`Provider` plus an attrs options class
(subclass of :class:`ProviderOptions`). It supplies only what is specific to
its vendor:

* **connect**: :meth:`Provider.connect` (default: a WebSocket to :meth:`Provider.url`
  with :meth:`Provider.headers`); an in-process engine returns its own
  :class:`Connection` instead;
* **framing**: :meth:`Provider.start_messages`, :meth:`Provider.encode_audio`,
  :meth:`Provider.flush_message`, :meth:`Provider.end_of_input_message`,
  :meth:`Provider.update_message` (options in :attr:`Provider.live_options` changed on a
  live connection: :meth:`Provider.live_changes` says which);
* **parsing**: :meth:`Provider.parse` turns one server message into
  :mod:`speechkit.events` objects (:meth:`Provider.decode_json` reads a JSON one), or
  raises a classified ``APIError`` (:meth:`Provider.vendor_error` builds it from the
  vendor's error, with the fix users see for every provider); a message of a type it does not
  know is skipped with :meth:`Provider.skip_unknown` (logged at debug);
  :meth:`Provider.on_deadline` ends a bounded wait it set in ``Session.deadline``;
  :meth:`Provider.classify_close` turns a close code into an error.

Everything else (retries, resampling, chunking, flush, drain, reconnect with
replay, the event grammar, usage and metrics) lives in the core.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from .connection import Connection, Message, Session
from .credentials import check_transport, redact_value
from .errors import (
    APIError,
    APIStatusError,
    ConfigError,
    ErrorKind,
    InvalidRequestError,
    MissingCredentialsError,
    ProviderUnavailableError,
    ServerError,
    classified_error,
)
from .events import ProviderEvent
from .options import ProviderOptions, changed_options, unknown_option
from .transport import WebSocketConnection

__all__ = ["Capabilities", "Connection", "Message", "Provider", "ProviderOptions", "Session"]

logger = logging.getLogger("speechkit")


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a provider can do; the conformance suite skips tests that need more.

    Attributes:
        interim_results: Sends interim transcripts.
        word_timestamps: Finals carry word timings.
        diarization: Labels speakers.
        flush: Honours a flush (finalises the current segment on request).
        update_options: Options can change on a live stream (the core reconnects with
            them and replays the audio no final covers yet).
        end_of_utterance: Signals the end of an utterance itself (``SpeechEnded`` or
            ``Transcript.end_of_utterance``); if False the core closes the utterance
            after every non-empty final.
        sample_rates: Sample rates (Hz) the vendor accepts for PCM s16le.
        encodings: Wire encodings the provider can send (e.g. ``("pcm_s16le",)``).
        languages: BCP-47 languages it recognises; empty for any the vendor accepts.
        needs_network: False for an in-process engine (an attribute of the provider,
            listed apart from the capabilities by ``speechkit providers``).
    """

    interim_results: bool = True
    word_timestamps: bool = False
    diarization: bool = False
    flush: bool = False
    update_options: bool = True
    end_of_utterance: bool = False
    sample_rates: tuple[int, ...] = (16000,)
    encodings: tuple[str, ...] = ("pcm_s16le",)
    languages: tuple[str, ...] = ()
    needs_network: bool = True


OptionsT = TypeVar("OptionsT", bound=ProviderOptions)


class Provider(Generic[OptionsT]):
    """Base of a provider: options plus connect, framing and parsing hooks.

    Subclasses set the class attributes and override the hooks they need. One
    instance serves every stream of an STT; per-connection state goes in
    :attr:`Session.state`.

    Class attributes (``capabilities`` and the chunk durations may be set per instance
    in ``__init__`` when they depend on the options):
        name: Registry name, as in config strings (``"telnyx"``).
        options_class: The attrs options class.
        capabilities: What the provider can do.
        credential_env: Environment variable holding the API key, or None; error messages
            name it in their fix (:meth:`vendor_error`).
        live_options: Options the vendor can change on a live connection (with the message
            :meth:`update_message` builds); a change of any other reconnects.
        chunk_duration: Seconds of audio per sent chunk.
        min_chunk_duration: Seconds a sent chunk must hold at least; a shorter tail at a
            flush or the end of input is padded with silence to it (the stream clock skips
            the padding, so times stay those of the pushed audio).
        drain_timeout: After end of input, seconds of server silence after which the
            stream ends even without a :class:`~speechkit.events.Finished`.
        heartbeat: WebSocket ping interval in seconds, or None. A pong missing for half of it
            ends the connection (aiohttp's rule), so it must outlast the event loop's worst
            lag under load: 30 s, as livekit's plugins use, tolerates 15 s. It detects a dead
            server while no speech is owed an answer; ``response_timeout`` does while it is.
        response_timeout: Default of :attr:`ProviderOptions.response_timeout`: seconds of
            server silence, while speech sent on the connection has had no answer at all,
            after which the connection is half-open — in every push mode and while
            draining. Set it above the longest silence the vendor keeps while working
            normally (a finals-only vendor is silent for a whole utterance); None turns the
            check off (an in-process engine cannot go half-open).
        transcript_timeout: Default of :attr:`ProviderOptions.transcript_timeout`: seconds
            without a transcript holding words, while whole utterances of speech went out,
            after which a connection that still answers is taken as dead (a silent
            failure); None turns the check off.
        keepalive_interval: Seconds without input after which :meth:`keepalive_message`
            is sent (when it returns a message).
        wait_for_ready: Hold the audio (not the start messages) until the parser returns
            :class:`~speechkit.events.Ready` (e.g. ``RecognitionStarted``); a connection not
            ready within the connect timeout fails with a retryable ``APIConnectionError``.
        emulator: ``"module:Class"`` of the provider's protocol emulator (a
            ``speechkit_conformance.emulator.Emulator``) that the conformance suite and
            ``speechkit emulate`` run; None for an in-process engine.
        requires: Modules (import names) the provider needs at run time beyond the core's;
            checked without importing them when a config string is parsed.
        install: The pip requirement that installs :attr:`requires`
            (``"speechkit-stt[local]"``), named in the error when one is missing.
        max_replay: Seconds of audio awaiting a final kept for replay on a reconnect; new
            audio waits while this much does (backpressure). None for the core's default
            (``speechkit.stream.MAX_REPLAY_SECONDS``); ``math.inf`` for an engine
            whose finals may all come at the end of input (``local`` decoding a recording
            whole), which backpressure would only stall.
    """

    name: ClassVar[str] = ""
    options_class: ClassVar[type[ProviderOptions]] = ProviderOptions
    capabilities: Capabilities = Capabilities()
    credential_env: ClassVar[str | None] = None
    live_options: ClassVar[frozenset[str]] = frozenset()
    chunk_duration: float = 0.1
    min_chunk_duration: float = 0.0
    drain_timeout: ClassVar[float] = 5.0
    heartbeat: ClassVar[float | None] = 30.0
    response_timeout: ClassVar[float | None] = 10.0
    transcript_timeout: ClassVar[float | None] = 20.0
    keepalive_interval: ClassVar[float] = 5.0
    wait_for_ready: ClassVar[bool] = False
    emulator: ClassVar[str | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    install: ClassVar[str | None] = None
    max_replay: ClassVar[float | None] = None

    def __init__(self, options: OptionsT) -> None:
        """Build a provider from validated options.

        Raises:
            ProviderUnavailableError: A module in :attr:`requires` is not installed.
            MissingCredentialsError: The provider needs a key and has none.
            InsecureTransportError: ``base_url`` would carry the key over ``ws://`` or
                ``http://`` to a host outside the loopback range, without ``insecure_transport``.
        """
        missing = self.missing_requirements()
        if missing:
            how = f"pip install '{self.install}'" if self.install else f"install {', '.join(missing)}"
            raise ProviderUnavailableError(
                f"STT provider {self.name!r} needs {', '.join(missing)} (not installed): {how}"
            )
        self.options = options
        if self.credential_env and not self.api_key:
            raise MissingCredentialsError(
                f"{self.name} needs an API key: set {self.credential_env} or pass "
                f"api_key (config string: '{self.name}?api_key=...')"
            )
        if self.credential_env and options.base_url:  # found when the string is parsed, not at connect
            check_transport(
                options.base_url,
                credentialed=True,
                insecure_transport=options.insecure_transport,
                provider=self.name,
            )

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """The modules of :attr:`requires` that are not installed (found without importing them)."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @property
    def api_key(self) -> str | None:
        """The API key from the options, else from :attr:`credential_env`."""
        if self.options.api_key:
            return self.options.api_key
        return os.environ.get(self.credential_env) if self.credential_env else None

    @property
    def response_limit(self) -> float | None:
        """Seconds of server silence after unanswered speech that mean half-open, or None."""
        return self.options.response_timeout or type(self).response_timeout

    @property
    def mute_limit(self) -> float | None:
        """Seconds without words while utterances went out that mean a mute connection, or None."""
        return self.options.transcript_timeout or type(self).transcript_timeout

    @property
    def sample_rate(self) -> int:
        """Rate in Hz the core resamples to and sends."""
        return self.options.sample_rate

    def prewarm(self) -> None:
        """Start loading, without blocking, what the first connection would load (a model).

        Called by :meth:`speechkit.STT.prewarm`, as LiveKit calls a plugin's ``prewarm()``
        in a worker's prewarm step. Default: nothing.
        """

    # -- connect -----------------------------------------------------------------

    def url(self, session: Session) -> str:
        """The WebSocket URL, query included. Required unless :meth:`connect` is overridden."""
        raise NotImplementedError(f"{type(self).__name__} must implement url() or connect()")

    def headers(self, session: Session) -> dict[str, str]:
        """Headers of the WebSocket upgrade (auth goes here). Never logged."""
        return {}

    async def connect(self, session: Session) -> Connection:
        """Open one connection. Default: a WebSocket to :meth:`url` with :meth:`headers`.

        Raises:
            InsecureTransportError: the key would go unencrypted to a host outside the loopback
                range (see :attr:`ProviderOptions.insecure_transport`).
            APIError: classified (see :func:`speechkit.errors.error_for_status`).
        """
        return await WebSocketConnection.open(
            session,
            url=self.url(session),
            headers=self.headers(session),
            heartbeat=self.heartbeat,
            provider=self.name,
            credential_env=self.credential_env,
            classify_close=self.classify_close,
            secrets=(self.api_key,),
            insecure_transport=self.options.insecure_transport,
        )

    # -- framing -----------------------------------------------------------------

    def start_messages(self, session: Session) -> Sequence[Message]:
        """Messages sent first on every connection (a start message, a WAV header)."""
        return ()

    def encode_audio(self, pcm: bytes, session: Session) -> Message:
        """Frame one chunk of PCM s16le mono at :attr:`sample_rate`. Default: raw bytes."""
        return pcm

    def flush_message(self, session: Session) -> Message | None:
        """What a flush sends after the buffered audio, or None.

        livekit-agents' ``end_input()`` flushes before it ends the input, so the end of a stream
        sends this message too, right before :meth:`end_of_input_message`
        (``session.input_ended`` is still False here, then True)."""
        return None

    def end_of_input_message(self, session: Session) -> Message | None:
        """What end of input sends after the last audio (and after :meth:`flush_message`, see
        there), or None. ``session.input_ended`` is True from here on."""
        return None

    def keepalive_message(self, session: Session) -> Message | None:
        """Sent when no input arrived for ``keepalive_interval`` seconds, or None."""
        return None

    def update_message(self, previous: Provider[OptionsT], session: Session) -> Message | None:
        """A message that applies this instance's options to a live connection opened with
        ``previous``'s (same language), or None to reconnect with them (the default).

        The core sends it in order with the audio, instead of reconnecting; a change of
        language always reconnects. A provider builds it from :meth:`live_changes`.
        """
        return None

    def live_changes(self, previous: Provider[OptionsT]) -> frozenset[str] | None:
        """The options that differ from ``previous``'s, when all are :attr:`live_options`
        (an empty set when none differ); None when one is not: the change needs a reconnect."""
        changed = changed_options(previous.options, self.options)
        return changed if changed <= self.live_options else None

    # -- parsing -----------------------------------------------------------------

    def parse(self, message: Message, session: Session) -> Iterable[ProviderEvent]:
        """Turn one server message into provider events.

        Raises:
            APIError: the message is a vendor error; set ``retryable`` by its kind.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement parse()")

    def decode_json(self, message: Message) -> dict[str, Any]:
        """The JSON object a server message holds (``{}`` for JSON that is not an object).

        Raises:
            ServerError: the message is not JSON (retried; never quoted: it may hold
                transcript text).
        """
        try:
            data = json.loads(message if isinstance(message, (str, bytes)) else str(message))
        except ValueError as e:
            raise ServerError(f"{self.name} sent a message that is not JSON ({e})") from e
        return data if isinstance(data, dict) else {}

    def skip_unknown(self, kind: object) -> tuple[()]:
        """Skip a server message of a type the provider does not know, logged at debug (the type
        only, never the content); the stream goes on.

        Returns:
            No events: ``return self.skip_unknown(kind)`` from :meth:`parse`.
        """
        shown = repr(kind)[:40]
        logger.debug(
            "%s: skipped a server message of unknown type %s", self.name, shown, extra={"provider": self.name}
        )
        return ()

    def vendor_error(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        body: object | None = None,
    ) -> APIStatusError:
        """An error the vendor reported (an error message, a close code) as the classified error.

        Args:
            kind: ``auth``, ``invalid`` (final), ``rate_limit`` or ``server`` (retried).
            message: What the vendor said, e.g. ``f"{self.name} error {code}: {reason}"``.
            status_code: The vendor's code; None for the error class's default.
            retry_after: Seconds to wait before retrying (``rate_limit`` and ``server``).
            body: The vendor's message, kept on the error.

        Returns:
            :func:`speechkit.errors.classified_error`'s error: the message ends in the fix of its
            kind, the same for every provider (``auth`` names :attr:`credential_env`); the API
            key is replaced by ``***`` in the message and the body.
        """
        return classified_error(  # a vendor echoing the key must not print it
            kind,
            redact_value(message, (self.api_key,)),
            credential_env=self.credential_env,
            status_code=status_code,
            retry_after=retry_after,
            body=redact_value(body, (self.api_key,)),
        )

    def on_deadline(self, session: Session) -> Iterable[ProviderEvent]:
        """Called once :attr:`Session.deadline` passes with no server message; default: nothing."""
        return ()

    def with_options(self, **changes: Any) -> Provider[OptionsT]:
        """A new instance of this provider with some options changed (validated as at parse time).

        Raises:
            ConfigError: an unknown option (with a close match) or a value the options
                class refuses.
        """
        fields = {f.name for f in attrs.fields(type(self.options))}
        for key in changes:
            if key not in fields:
                raise unknown_option(self.name, key, fields)
        try:
            options = attrs.evolve(self.options, **changes)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{self.name}: {e}") from e
        return type(self)(options)

    def classify_close(self, code: int, reason: str, session: Session) -> APIError | None:
        """Turn a server close into an error, or None for a normal close.

        Default: 1000 is normal; 1008 (policy) and 1003 (unsupported data) are
        invalid requests; anything else is retryable.
        """
        if code == 1000:
            return None
        reason = redact_value(reason, (self.api_key,))
        detail = f"{self.name} closed the connection (code {code}{': ' + reason if reason else ''})"
        if code in (1003, 1007, 1008):
            return InvalidRequestError(detail, status_code=code)
        return ServerError(detail, status_code=code)
