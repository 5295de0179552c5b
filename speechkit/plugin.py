"""``speechkit.STT``: a livekit ``stt.STT`` plugin over any provider.

(The module is not named ``stt``: ``speechkit.stt`` is the factory function,
:func:`speechkit.factory.stt`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from typing import Any

import aiohttp
from livekit.agents import APIConnectOptions, stt
from livekit.agents.metrics import STTMetrics
from livekit.agents.metrics.base import Metadata
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer, is_given

from .provider import Provider
from .stream import SpeechStream
from .stream.metrics import provider_metadata
from .transport import handshake_trace


class STT(stt.STT[None]):
    """A livekit STT backed by a speechkit provider; works in ``AgentSession``,
    ``stt.FallbackAdapter`` and ``stt.StreamAdapter`` unchanged.

    Usually built from a config string with :func:`speechkit.stt`.

    Args:
        provider: A configured provider instance.
        capabilities: livekit capabilities to declare; default: the provider's.
        label: The metrics label; default ``speechkit.<provider>``.
    """

    def __init__(
        self,
        provider: Provider[Any],
        *,
        capabilities: stt.STTCapabilities | None = None,
        label: str | None = None,
    ) -> None:
        caps = provider.capabilities
        super().__init__(
            capabilities=capabilities
            or stt.STTCapabilities(
                streaming=True,
                interim_results=caps.interim_results,
                diarization=caps.diarization,
                aligned_transcript="word" if caps.word_timestamps else False,
                offline_recognize=True,
                manual_flush=caps.flush,
            )
        )
        self._provider = provider
        self._label = label or f"speechkit.{provider.name}"
        self._http: aiohttp.ClientSession | None = None
        self._streams: weakref.WeakSet[SpeechStream] = weakref.WeakSet()
        self._running = 0  # streams whose connections may use the HTTP session

    @property
    def provider(self) -> str:
        return self._provider.name

    @property
    def model(self) -> str:
        return self._provider.options.model or "unknown"

    def usage_metadata(self) -> Metadata:
        """Model and provider for every metrics event, as LiveKit's usage collectors group them
        (``AgentSession.usage``: one STT entry per model and provider)."""
        return Metadata(**self.metrics_metadata)

    @property
    def language(self) -> str:
        """Default language of this STT's streams (BCP-47)."""
        return str(self._provider.options.language)

    @property
    def hooks(self) -> Provider[Any]:
        """The provider instance (options and hooks) behind this STT; new streams use it.

        Setting it (a validated instance, e.g. from ``hooks.with_options(...)``) changes
        the options of new streams only.
        """
        return self._provider

    @hooks.setter
    def hooks(self, provider: Provider[Any]) -> None:
        self._provider = provider

    @property
    def label(self) -> str:
        """The metrics label (``speechkit.<provider>``)."""
        return self._label

    @property
    def open_streams(self) -> list[SpeechStream]:
        """The streams of this STT not yet garbage-collected (open or recently closed)."""
        return list(self._streams)

    def http_session(self) -> aiohttp.ClientSession:
        """The aiohttp session the STT's WebSocket connections share: opened on first use,
        closed when the last running stream ends (so an STT nobody closes leaks nothing:
        livekit's ``FallbackAdapter`` and ``StreamAdapter`` never close the STTs they wrap)."""
        if self._http is None or self._http.closed:
            # no connection cap: each stream holds one WebSocket for its whole life, and
            # aiohttp's default (100 per session) made the 101st concurrent stream wait
            # for a free slot until its connect timed out
            # the trace keeps a refused handshake's body: the vendor's reason for the error
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), trace_configs=[handshake_trace()]
            )
        return self._http

    def hold_http_session(self) -> None:
        """A stream of this STT opened: the HTTP session stays until it lets go (its streams call
        this and :meth:`release_http_session`)."""
        self._running += 1

    async def release_http_session(self) -> None:
        """A stream's connections are closed; the last one out closes the HTTP session."""
        self._running -= 1
        if self._running == 0 and self._http is not None:
            http, self._http = self._http, None
            await http.close()

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        realtime: bool = True,
    ) -> SpeechStream:
        """Open a streaming recognition session (see :class:`speechkit.stream.SpeechStream`).

        Args:
            language: Language of the speech; default the STT's.
            conn_options: Retry and timeout policy.
            realtime: False for a recording pushed faster than real time: providers may
                then favour accuracy over latency (see :attr:`speechkit.Session.realtime`;
                ``local`` decodes with whole-recording context and is deterministic).
        """
        lang = language if is_given(language) else self.language
        s = self._open_stream(lang, conn_options, realtime=realtime)
        self._streams.add(s)
        return s

    def _open_stream(self, language: str, conn_options: APIConnectOptions, *, realtime: bool) -> SpeechStream:
        """The stream :meth:`stream` opens (a chain opens its own kind)."""
        return SpeechStream(
            stt=self, provider=self._provider, language=language, conn_options=conn_options, realtime=realtime
        )

    async def recognize(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        """Transcribe a whole buffer by streaming it as a recording (``realtime=False``);
        retries are the stream's own.

        Returns:
            One ``FINAL_TRANSCRIPT`` event whose single alternative joins every final,
            with the first start and last end time and all words.

        Raises:
            APIError: as the stream does.
        """
        start = time.perf_counter()
        event, served = await self._recognize_stream(buffer, language=language, conn_options=conn_options)
        self.emit(
            "metrics_collected",
            STTMetrics(
                request_id=event.request_id,
                timestamp=time.time(),
                duration=time.perf_counter() - start,
                label=self._label,
                audio_duration=0.0,  # the stream's usage metrics count the audio already
                streamed=False,
                metadata=provider_metadata(served),
            ),
        )
        return event

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        return (await self._recognize_stream(buffer, language=language, conn_options=conn_options))[0]

    async def _recognize_stream(
        self, buffer: AudioBuffer, *, language: NotGivenOr[str], conn_options: APIConnectOptions
    ) -> tuple[stt.SpeechEvent, Provider[Any]]:
        """The joined final of ``buffer``, and the provider that served last (a chain's member)."""
        frames = buffer if isinstance(buffer, list) else [buffer]
        finals: list[stt.SpeechData] = []
        request_id = ""
        stream = self.stream(language=language, conn_options=conn_options, realtime=False)
        async with stream as s:
            for frame in frames:
                s.push_frame(frame)
            s.end_input()
            async for ev in s:
                request_id = ev.request_id
                if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT and ev.alternatives:
                    finals.append(ev.alternatives[0])
            served = stream.provider
        lang = language if is_given(language) else self.language
        words = [w for f in finals for w in (f.words or [])]
        data = stt.SpeechData(
            language=finals[0].language if finals else lang,  # type: ignore[arg-type]
            text=" ".join(f.text for f in finals if f.text),
            start_time=finals[0].start_time if finals else 0.0,
            end_time=finals[-1].end_time if finals else 0.0,
            confidence=min((f.confidence for f in finals), default=0.0),
            words=words or None,
        )
        event = stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT, request_id=request_id, alternatives=[data]
        )
        return event, served

    def update_options(self, *, language: NotGivenOr[str] = NOT_GIVEN, **options: Any) -> None:
        """Change options for new streams and every open one (which reconnect with them).

        Raises:
            ConfigError: unknown option or bad value (nothing is changed then).
        """
        changes = dict(options, **({"language": language} if is_given(language) else {}))
        self._provider = self._provider.with_options(**changes)
        for stream in list(self._streams):
            stream.update_options(
                language=language, **{k: v for k, v in options.items() if k != "sample_rate"}
            )

    def prewarm(self) -> None:
        """Load ahead what the first stream needs: the provider's model (in the background,
        see :meth:`Provider.prewarm`), and the HTTP session of a network provider when an
        event loop is running."""
        self._provider.prewarm()
        if self._provider.capabilities.needs_network:
            with contextlib.suppress(RuntimeError):  # no running loop: the first stream opens it
                asyncio.get_running_loop()
                self.http_session()

    async def aclose(self) -> None:
        """Close every open stream of this STT, then its HTTP session.

        Not needed to free resources (the session closes with the last stream), but a
        worker should still call it: it ends streams still running."""
        await asyncio.gather(*(s.aclose() for s in list(self._streams)), return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None


__all__ = ["STT"]
