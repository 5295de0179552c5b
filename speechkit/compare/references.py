"""Reference transcripts for ``speechkit compare --reference``: a text, a directory or a manifest.

* a **manifest** (a ``.jsonl`` file): one JSON object a line with ``"file"`` (relative to the
  manifest's directory, or absolute) and ``"text"``, the layout of ``bench/fetch_speech.sh``'s
  ``manifest.jsonl`` (extra fields are ignored);
* a **directory**: ``DIR/NAME.txt`` for the input ``NAME.wav`` (any audio extension);
* a **text file** (any other file): its text, the reference of every input;
* otherwise the argument itself is the text, the reference of every input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError


def _key(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def _manifest(path: Path) -> dict[str, str]:
    refs: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as e:
            raise ConfigError(f"--reference {path}: line {n} is not JSON ({e})") from e
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ConfigError(f'--reference {path}: line {n} has no "file" (a path)')
        if not isinstance(entry.get("text"), str):
            raise ConfigError(f'--reference {path}: line {n} has no "text"')
        refs[_key(path.parent / entry["file"])] = entry["text"]
    return refs


def load_references(spec: str | None, files: Sequence[str]) -> dict[str, str | None]:
    """The reference of each input (None when it has none).

    Args:
        spec: The ``--reference`` argument (see the module docstring), or None.
        files: The input paths.

    Returns:
        ``{input path as given: reference text or None}``.

    Raises:
        ConfigError: a manifest that cannot be read or parsed; a file that cannot be read.
    """
    if spec is None:
        return dict.fromkeys(files)
    p = Path(spec)
    try:
        if p.is_dir():
            out: dict[str, str | None] = {}
            for f in files:
                txt = p / f"{Path(f).stem}.txt"
                out[f] = txt.read_text(encoding="utf-8").strip() if txt.is_file() else None
            return out
        if p.is_file() and p.suffix == ".jsonl":
            refs = _manifest(p)
            return {f: refs.get(_key(f)) for f in files}
        if p.is_file():
            text = p.read_text(encoding="utf-8").strip()
            return dict.fromkeys(files, text)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--reference {spec}: {getattr(e, 'strerror', None) or e}") from e
    return dict.fromkeys(files, spec)
