"""An emulator of the Acme protocol (see :mod:`acme_speechkit`), on speechkit's emulator framework.

It checks what Acme checks (the key, the sample rate), feeds the audio to the conformance
suite's oracle recognizer and answers in Acme's messages; the framework adds the session
records and every fault of a ``FaultPlan``.
"""

from __future__ import annotations

import json

from aiohttp import web
from speechkit_conformance.emulator import Emulator, SessionContext, SessionRecord
from speechkit_conformance.oracle import OracleRecognizer

from speechkit.events import Transcript, Word

RATES = (8000, 16000)


class AcmeEmulator(Emulator):
    """Acme's ``/v1/listen`` on 127.0.0.1."""

    paths = ("/v1/listen",)
    error_close_code = 1011

    @classmethod
    def for_cli(cls, *, recognizer: str = "oracle", port: int = 0) -> AcmeEmulator:
        if recognizer != "oracle":
            raise ValueError("the Acme emulator has the oracle recognizer only")
        return cls(port=port)

    @property
    def api_key(self) -> str:
        return "acme-test-key"

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"type": "error", "code": 401, "message": "bad key"}, status=401)
        return None

    async def open_session(self, ctx: SessionContext) -> bool:
        rate = ctx.record.query.get("sample_rate", "")
        if not rate.isdigit() or int(rate) not in RATES:
            ctx.send(json.dumps({"type": "error", "code": 400, "message": f"sample_rate {rate!r}"}))
            ctx.close(1008)
            return False
        interim = ctx.record.query.get("interim") == "true"
        ctx.record.state.update(rate=int(rate), rec=OracleRecognizer(int(rate), interim_results=interim))
        return True

    async def on_binary(self, ctx: SessionContext, data: bytes) -> float:
        self._send(ctx, ctx.record.state["rec"].feed(data))
        return len(data) / 2 / ctx.record.state["rate"]

    async def on_text(self, ctx: SessionContext, text: str) -> None:
        if json.loads(text).get("type") == "close":
            self._send(ctx, ctx.record.state["rec"].finalize())
            ctx.send(json.dumps({"type": "done"}))
            ctx.close(1000)

    def error_message(self, ctx: SessionContext) -> object:
        return {"type": "error", "code": 500, "message": "internal error"}

    # the shapes of the framework's made-up messages (FaultPlan: early_final, interim_flood)
    def final_message(self, ctx: SessionContext, words: list[Word]) -> object | None:
        return self._message("final", words)

    def interim_message(self, ctx: SessionContext, words: list[Word]) -> object | None:
        return self._message("partial", words)

    @staticmethod
    def _message(kind: str, words: list[Word]) -> dict[str, object]:
        text = " ".join(w.text for w in words)
        return {"type": kind, "text": text, "start": words[0].start_time, "end": words[-1].end_time}

    @staticmethod
    def _send(ctx: SessionContext, events: list[Transcript]) -> None:
        for ev in events:
            kind = "final" if ev.is_final else "partial"
            ctx.send(json.dumps({"type": kind, "text": ev.text, "start": ev.start_time, "end": ev.end_time}))
