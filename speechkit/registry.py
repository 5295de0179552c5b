"""Provider registry: the ``speechkit.providers`` entry-point group, loaded lazily.

Built-in providers are registered through the same entry points as third-party
ones (see ``pyproject.toml``), so a vendor's package adds::

    [project.entry-points."speechkit.providers"]
    acme = "acme_speechkit:AcmeProvider"

Nothing is imported until a provider is asked for by name, so ``import speechkit``
never imports an engine such as faster-whisper.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from .config import shown
from .errors import ProviderUnavailableError
from .options import suggest
from .provider import Provider

GROUP = "speechkit.providers"

_runtime: dict[str, type[Provider[Any]]] = {}


def register(cls: type[Provider[Any]]) -> None:
    """Register a provider class at run time (tests, notebooks); entry points are the normal way."""
    _runtime[cls.name] = cls


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=GROUP)}


def names() -> list[str]:
    """Names of every registered provider, sorted."""
    return sorted(set(_entry_points()) | set(_runtime))


def get(name: str) -> type[Provider[Any]]:
    """The provider class registered as ``name``.

    Raises:
        ProviderUnavailableError: unknown name (with a close match and the list of
            known ones), or its module fails to import (with what to install).
    """
    if name in _runtime:
        return _runtime[name]
    eps = _entry_points()
    if name not in eps:
        known = names()
        raise ProviderUnavailableError(
            f"unknown STT provider {shown(name)}; "
            f"installed providers: {', '.join(known) or 'none'}{suggest(name, known)}"
        )
    ep = eps[name]
    try:
        cls = ep.load()
    except ImportError as e:
        dist = ep.dist.name if ep.dist else "the package that provides it"
        raise ProviderUnavailableError(
            f"STT provider {name!r} could not be imported ({e}); "
            f"install its dependencies: pip install '{dist}'"
        ) from e
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ProviderUnavailableError(f"entry point {name!r} ({ep.value}) is not a speechkit Provider class")
    return cls
