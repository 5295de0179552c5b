"""The Speechmatics provider: the classic Real-Time API v2.

It follows Speechmatics' Realtime API reference
(https://docs.speechmatics.com/api-ref/realtime-transcription-websocket) and WebSocket protocol guide
(https://docs.speechmatics.com/speech-to-text/realtime/guides/websocket-protocol); the fact-by-fact
sources are in ``docs/protocols/speechmatics.md`` §3.1–3.2 and §3.4–3.7 (a bare §N.M below is in that
file, source keys such as SM-RT in ``docs/protocols/sources.md``).

Config strings: ``speechmatics/enhanced:en``, ``speechmatics:de?diarization=true&max_delay=1.5``
(options: :mod:`.options`). The key (``SPEECHMATICS_API_KEY`` or ``api_key``) goes as ``Authorization:
Bearer``, or is first swapped for a temporary key (``temporary_key=true``). Agent STT (§3.3) would be
a second model: another :meth:`SpeechmaticsProvider.transcription_config` and parser over the same
connect, auth and framing.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Iterable
from typing import Any, ClassVar

import aiohttp
import attrs

from speechkit import Capabilities, Connection, Provider, Session, errors
from speechkit.codecs import WIRE_ENCODINGS, encode_pcm
from speechkit.credentials import check_transport, scrubbed, secrets_in
from speechkit.events import Finished, ProviderEvent, Ready, SpeechEnded, Transcript, Word

from .options import SpeechmaticsOptions

__all__ = ["RETRY_AFTER", "SpeechmaticsOptions", "SpeechmaticsProvider"]

logger = logging.getLogger("speechkit")
DEFAULT_URL = "wss://eu2.rt.speechmatics.com/v2"  # §3.1; SPEECHMATICS_RT_URL overrides it
RETRY_AFTER = 5.0  # §3.1: quota_exceeded (4005), job_error (4013), internal_error (1011): 5-10 s
RATES = (8000, 16000, 22050, 32000, 44100, 48000)  # [I] the RT docs list none; the SDK defaults to 44100
ENCODINGS = tuple(WIRE_ENCODINGS)  # §3.2: raw pcm_s16le, pcm_f32le, mulaw
_LATER = {"quota_exceeded": 4005, "job_error": 4013, "internal_error": 1011}
_FINAL = {"not_allowed", "insufficient_funds", "protocol_error", "data_error", "timelimit_exceeded"}
_UNUSED = frozenset({"AudioAdded", "SpeakersResult", "AudioEventStarted", "AudioEventEnded"})
"""Messages of the protocol with nothing for the core (§3.2, §3.4)."""


class SpeechmaticsProvider(Provider[SpeechmaticsOptions]):
    """Speechmatics RT v2: ``StartRecognition``; audio after ``RecognitionStarted`` (the ready gate),
    counted as ``seq_no``; ``ForceEndOfUtterance`` on flush; ``EndOfStream`` at end of input (§3.5)."""

    name: ClassVar[str] = "speechmatics"
    options_class = SpeechmaticsOptions
    capabilities = Capabilities(
        word_timestamps=True, flush=True, end_of_utterance=True, sample_rates=RATES, encodings=ENCODINGS
    )
    credential_env = "SPEECHMATICS_API_KEY"
    # what SetRecognitionConfig may change (§3.2)
    live_options = frozenset({"max_delay", "max_delay_mode", "interim_results"})
    emulator = "speechkit_conformance.emulators.speechmatics:SpeechmaticsEmulator"
    wait_for_ready = True  # audio before RecognitionStarted is a protocol_error (§3.10.4)
    heartbeat = 30.0  # §3.1: ping every 20-60 s; 3 min without audio or pings ends a session

    def __init__(self, options: SpeechmaticsOptions) -> None:
        """Build the provider; capabilities follow the options.

        Raises:
            MissingCredentialsError: no ``api_key`` and no ``SPEECHMATICS_API_KEY``.
        """
        super().__init__(options)
        o, caps = options, self.capabilities
        self.capabilities = attrs.evolve(caps, interim_results=o.interim_results, diarization=o.diarization)
        self.capabilities = attrs.evolve(self.capabilities, end_of_utterance=o.endpointing > 0)
        self._jwt: tuple[str, float] | None = None  # temporary key, valid until (monotonic s)

    # -- connect ----------------------------------------------------------------------

    def url(self, session: Session) -> str:
        """``base_url``, else ``SPEECHMATICS_RT_URL``, else :data:`DEFAULT_URL`."""
        base = (self.options.base_url or os.environ.get("SPEECHMATICS_RT_URL") or DEFAULT_URL).rstrip("/")
        return base if base.count("/") > 2 else f"{base}/v2"

    def headers(self, session: Session) -> dict[str, str]:
        """Bearer auth with the key or the temporary key (§3.1)."""
        return {"Authorization": f"Bearer {session.state.get('jwt') or self.api_key}"}

    async def connect(self, session: Session) -> Connection:
        """The WebSocket; first a temporary key when asked (one serves every connect for 50 s)."""
        if self.options.temporary_key and session.http is not None:
            if not self._jwt or self._jwt[1] < time.monotonic():
                self._jwt = (await self._fetch_key(session.http), time.monotonic() + 50.0)
            session.state["jwt"] = self._jwt[0]
        return await super().connect(session)

    async def _fetch_key(self, http: aiohttp.ClientSession) -> str:
        """``POST {auth_url}/v1/api_keys?type=rt`` with the key answers 201 ``{"key_value": ...}`` (§3.1).

        Raises:
            InsecureTransportError: ``auth_url`` is ``http://`` to a host that is not loopback.
        """
        url, auth = f"{self.options.auth_url}/v1/api_keys?type=rt", f"Bearer {self.api_key}"
        o = self.options
        check_transport(url, credentialed=True, insecure_transport=o.insecure_transport, provider=self.name)
        try:
            async with http.post(url, json={"ttl": 60}, headers={"Authorization": auth}) as r:
                if r.status != 201:
                    raise errors.error_for_status(
                        r.status, provider=self.name, credential_env=self.credential_env
                    )
                return str((await r.json())["key_value"])
        except (aiohttp.ClientError, ValueError, KeyError) as e:
            failure = errors.APIConnectionError(f"{self.name}: no temporary key ({type(e).__name__})")
            cause = e
        # raised out of the except block with a stand-in cause: aiohttp's repr holds the headers
        raise failure from scrubbed(cause, secrets_in(url, {"Authorization": auth}))

    # -- framing ----------------------------------------------------------------------

    def transcription_config(self, session: Session) -> dict[str, Any]:
        """``StartRecognition.transcription_config`` from the options (§3.2)."""
        o = self.options
        marks = {"permitted_marks": list(o.punctuation_marks or "") or None}
        marks["sensitivity"] = o.punctuation_sensitivity
        eou = {"end_of_utterance_silence_trigger": o.endpointing}
        config = {
            "language": session.language.split("-")[0].lower(),
            "operating_point": o.model,
            "enable_partials": o.interim_results,
            "max_delay": o.max_delay,
            "max_delay_mode": o.max_delay_mode,
            "output_locale": o.output_locale,
            "diarization": "speaker" if o.diarization else None,
            "speaker_diarization_config": {"max_speakers": o.max_speakers} if o.max_speakers else None,
            "additional_vocab": [{"content": t} for t in o.keyterms] or None,
            "conversation_config": eou if o.endpointing else None,
            "punctuation_overrides": {k: x for k, x in marks.items() if x is not None} or None,
        }
        return {k: x for k, x in config.items() if x is not None}

    def start_messages(self, session: Session) -> list[str]:
        """``StartRecognition``: raw audio in the wire encoding at the provider rate (§3.2)."""
        fmt = {"type": "raw", "encoding": self.options.encoding, "sample_rate": session.sample_rate}
        start = {"message": "StartRecognition", "audio_format": fmt}
        return [json.dumps(start | {"transcription_config": self.transcription_config(session)})]

    def encode_audio(self, pcm: bytes, session: Session) -> bytes:
        """One binary frame (``AddAudio``), acknowledged as ``seq_no`` ``session.chunks_sent + 1`` (§3.4)."""
        return encode_pcm(pcm, self.options.encoding)

    def flush_message(self, session: Session) -> str:
        """``ForceEndOfUtterance`` at the audio sent so far: only that audio is finalised (§3.2, §3.9.5)."""
        return json.dumps({"message": "ForceEndOfUtterance", "timestamp": round(session.audio_seconds, 3)})

    def end_of_input_message(self, session: Session) -> str:
        """``EndOfStream`` with the last seq_no sent; ``EndOfTranscript`` answers it (§3.5)."""
        return json.dumps({"message": "EndOfStream", "last_seq_no": session.chunks_sent})

    def update_message(self, previous: Provider[SpeechmaticsOptions], session: Session) -> str | None:
        """``SetRecognitionConfig`` with every live field when only :attr:`live_options` changed (§3.2);
        else None: reconnect."""
        unset = previous.options.max_delay_mode and not self.options.max_delay_mode  # no live way back
        if unset or self.live_changes(previous) is None:
            return None
        config = self.transcription_config(session)
        live = {k: config[k] for k in ("max_delay", "max_delay_mode", "enable_partials") if k in config}
        return json.dumps({"message": "SetRecognitionConfig", "transcription_config": live})

    # -- parsing ----------------------------------------------------------------------

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        """One server message (§3.2) to events.

        Raises:
            APIError: an ``Error`` message (see :meth:`error`), or an ``AudioAdded`` for audio never sent.
        """
        data = self.decode_json(message)
        kind = data.get("message")
        if kind in ("AddPartialTranscript", "AddTranscript"):
            return self.transcripts(data.get("results") or [], kind == "AddTranscript", session)
        if kind == "RecognitionStarted":
            session.state["delimiter"] = (data.get("language_pack_info") or {}).get("word_delimiter", " ")
            return (Ready(),)
        if kind == "AudioAdded" and int(data.get("seq_no", 0)) > session.chunks_sent:
            raise errors.ServerError(f"{self.name} acknowledged seq_no {data['seq_no']}, never sent")
        if kind == "EndOfUtterance":
            return (SpeechEnded((data.get("metadata") or {}).get("end_time")),)
        if kind == "EndOfTranscript":
            return (Finished(),)
        if kind == "Error":
            raise self.error(data)
        if kind in ("Info", "Warning"):  # service notices, never transcript text
            notice = (kind, data.get("type"), data.get("reason"))
            logger.info("%s %s: %s", *notice, extra={"provider": self.name})
        elif kind not in _UNUSED:
            return self.skip_unknown(kind)
        return ()

    def transcripts(self, results: list[dict[str, Any]], final: bool, session: Session) -> list[Transcript]:
        """``results`` to transcripts: one per speaker run when diarizing, punctuation glued on as
        ``attaches_to`` says, words joined by the language's ``word_delimiter`` (§3.2)."""

        def speaker(r: dict[str, Any]) -> str | None:
            return r["alternatives"][0].get("speaker") if self.options.diarization else None

        delimiter = session.state.get("delimiter", " ")
        return [
            self._transcript(list(run), final, delimiter) for _, run in itertools.groupby(results, speaker)
        ]

    def _transcript(self, results: list[dict[str, Any]], final: bool, delimiter: str) -> Transcript:
        text, glue, words = "", True, []
        for r in results:
            alt, kind = r["alternatives"][0], r.get("type")
            attaches = r.get("attaches_to", "previous") if kind == "punctuation" else "none"
            text += ("" if glue or attaches in ("previous", "both") else delimiter) + alt["content"]
            glue = attaches in ("next", "both")
            confidence = alt.get("confidence") if final else None  # partials' confidence means nothing
            if kind == "word":
                words.append(Word(alt["content"], r["start_time"], r["end_time"], confidence))
        known = [w.confidence for w in words if w.confidence is not None]
        first, confidence = results[0]["alternatives"][0], sum(known) / len(known) if known else None
        speaker = first.get("speaker") if self.options.diarization else None
        start, end = results[0]["start_time"], results[-1]["end_time"]
        return Transcript(text, final, start, end, confidence, tuple(words), first.get("language"), speaker)

    def error(self, data: dict[str, Any]) -> errors.APIError:
        """Classify an ``Error`` (§3.7): bad key, config or audio are final; quota, job and internal
        errors are retried after :data:`RETRY_AFTER`; timeouts and the rest at once."""
        kind, reason = str(data.get("type", "unknown_error")), data.get("reason")
        msg = f"{self.name} error {kind}{f': {reason}' if reason else ''}"
        final = kind.startswith("invalid_") or kind in _FINAL
        of: errors.ErrorKind = "auth" if kind == "not_authorised" else "invalid" if final else "server"
        return self.vendor_error(of, msg, retry_after=RETRY_AFTER if kind in _LATER else None, body=data)

    def classify_close(self, code: int, reason: str, session: Session) -> errors.APIError | None:
        """A close with no ``Error`` before it (§3.7): 4001 bad key; 4005, 4013 and 1011 retried after
        :data:`RETRY_AFTER`; 1008 (idle or session timeout) reconnects; the rest as the default."""
        detail = f"{self.name} closed the connection (code {code})"
        if code == 4001:
            return self.vendor_error("auth", detail, status_code=code)
        if code in (*_LATER.values(), 1008):
            later = None if code == 1008 else RETRY_AFTER
            return self.vendor_error("server", detail, status_code=code, retry_after=later)
        return super().classify_close(code, reason, session)
