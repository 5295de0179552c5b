"""Acme STT for speechkit: an example vendor package, outside the speechkit tree.

The Acme protocol (invented for this example; a real vendor cites its docs here):

* ``GET {base_url}/v1/listen?sample_rate=16000&language=en&model=fast&interim=true`` upgraded
  to a WebSocket, with ``Authorization: Bearer <key>``; a bad key is an HTTP 401;
* the client sends binary frames of PCM s16le mono, then ``{"type": "close"}``;
* the server sends ``{"type": "partial" | "final", "text", "start", "end"}`` (seconds of
  session audio), ``{"type": "error", "message", "code"}``, and ``{"type": "done"}`` once
  the last final after ``close`` is out, then closes with 1000.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import ClassVar
from urllib.parse import urlencode

import attrs

import speechkit
from speechkit import Capabilities, Session
from speechkit.events import Finished, ProviderEvent, Transcript

_LOG = logging.getLogger("acme_speechkit")


@attrs.frozen(kw_only=True)
class AcmeOptions(speechkit.ProviderOptions):
    """Options of the Acme provider (query parameters of the connection).

    Attributes:
        model: ``fast`` or ``accurate``.
        interim_results: Ask for partial transcripts.
        base_url: The service; an emulator on 127.0.0.1 in tests.
    """

    model: str = attrs.field(default="fast", validator=attrs.validators.in_(("fast", "accurate")))
    interim_results: bool = True
    base_url: str | None = "wss://api.acme.example"


class AcmeProvider(speechkit.Provider[AcmeOptions]):
    """Acme STT over WebSocket: JSON transcripts with times, PCM in binary frames."""

    name: ClassVar[str] = "acme"
    options_class = AcmeOptions
    capabilities = Capabilities(
        interim_results=True, word_timestamps=False, end_of_utterance=False, sample_rates=(8000, 16000)
    )
    credential_env = "ACME_API_KEY"
    chunk_duration = 0.1
    drain_timeout = 3.0
    emulator = "acme_speechkit.emulator:AcmeEmulator"

    def url(self, session: Session) -> str:
        query = {
            "sample_rate": session.sample_rate,
            "language": session.language,
            "model": self.options.model,
            "interim": str(self.options.interim_results).lower(),
        }
        return f"{self.options.base_url}/v1/listen?{urlencode(query)}"

    def headers(self, session: Session) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def end_of_input_message(self, session: Session) -> str:
        return json.dumps({"type": "close"})

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        try:
            data = json.loads(str(message))
            kind = data["type"]
        except (ValueError, KeyError, TypeError):
            _LOG.warning("%s: ignored a malformed message (%d chars)", self.name, len(str(message)))
            return
        if kind in ("partial", "final"):
            yield Transcript(data["text"], kind == "final", data.get("start"), data.get("end"))
        elif kind == "done":
            yield Finished()
        elif kind == "error":
            said = f"{self.name} error {data.get('code')}: {data.get('message', '')}"
            # 4xx: the request was wrong (not retried); else the vendor's fault (retried)
            raise self.vendor_error(
                "invalid" if 400 <= int(data.get("code", 500)) < 500 else "server", said, body=data
            )
        else:  # a type Acme added since: skipped, logged at debug
            self.skip_unknown(kind)
