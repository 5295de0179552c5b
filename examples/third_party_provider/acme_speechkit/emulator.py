"""An emulator of the Acme protocol (see :mod:`acme_speechkit`), on speechkit's recognizing emulator.

It checks what Acme checks (the key, the sample rate) and answers in Acme's messages; the
framework runs the recognizer (the suite's oracle, or the local engine), decodes the audio,
keeps the session records and applies every fault of a ``FaultPlan``.
"""

from __future__ import annotations

import json

import attrs
from aiohttp import web
from speechkit_conformance.emulator import SessionContext, SessionRecord
from speechkit_conformance.recognizers import RecognizerEvent, RecognizerKind
from speechkit_conformance.recognizing import RecognizingEmulator

from speechkit.events import Transcript, Word

RATES = (8000, 16000)


@attrs.define(kw_only=True)
class AcmeConfig:
    """How the emulated Acme behaves (``speechkit emulate acme --set FIELD=VALUE``).

    Attributes:
        api_key: The key accepted.
        recognizer: ``"oracle"`` (tone words) or ``"local"`` (real speech).
    """

    api_key: str = "acme-test-key"
    recognizer: RecognizerKind = "oracle"


@attrs.define
class AcmeSession:
    """One session's state: what the query asked for."""

    sample_rate: int
    interim: bool


class AcmeEmulator(RecognizingEmulator[AcmeConfig, AcmeSession]):
    """Acme's ``/v1/listen`` on 127.0.0.1."""

    paths = ("/v1/listen",)
    config_type = AcmeConfig
    error_close_code = 1011

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"type": "error", "code": 401, "message": "bad key"}, status=401)
        return None

    async def open_session(self, ctx: SessionContext[AcmeSession]) -> AcmeSession | None:
        rate = ctx.record.query.get("sample_rate", "")
        if not rate.isdigit() or int(rate) not in RATES:
            ctx.fail({"type": "error", "code": 400, "message": f"sample_rate {rate!r}"}, 1008)
            return None
        self.start_recognizer(ctx, int(rate))
        return AcmeSession(int(rate), ctx.record.query.get("interim") == "true")

    async def on_binary(self, ctx: SessionContext[AcmeSession], data: bytes) -> float:
        return self.push_audio(ctx, data, encoding="pcm_s16le")

    async def on_text(self, ctx: SessionContext[AcmeSession], text: str) -> None:
        if json.loads(text).get("type") == "close":  # every final, then "done" and a close
            self.end_input(ctx, then=lambda: self._done(ctx))

    @staticmethod
    def _done(ctx: SessionContext[AcmeSession]) -> None:
        ctx.send(json.dumps({"type": "done"}))
        ctx.close(1000)

    def on_event(self, ctx: SessionContext[AcmeSession], event: RecognizerEvent) -> None:
        if isinstance(event, Transcript) and (event.is_final or ctx.state.interim):
            ctx.send(json.dumps(self._message("final" if event.is_final else "partial", list(event.words))))

    def error_message(self, ctx: SessionContext[AcmeSession]) -> object:
        return {"type": "error", "code": 500, "message": "internal error"}

    # the shapes of the framework's made-up messages (FaultPlan: early_final, interim_flood)
    def final_message(self, ctx: SessionContext[AcmeSession], words: list[Word]) -> object | None:
        return self._message("final", words)

    def interim_message(self, ctx: SessionContext[AcmeSession], words: list[Word]) -> object | None:
        return self._message("partial", words)

    @staticmethod
    def _message(kind: str, words: list[Word]) -> dict[str, object]:
        text = " ".join(w.text for w in words)
        return {"type": kind, "text": text, "start": words[0].start_time, "end": words[-1].end_time}
