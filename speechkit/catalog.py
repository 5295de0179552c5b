"""What ``speechkit providers`` shows: per provider its config-string example, capabilities,
options (type, default, meaning), credentials and what to install; one record for text and JSON.
"""

from __future__ import annotations

import inspect
import os
import re
import types
import typing
from typing import Any

import attrs

from . import registry
from .errors import ConfigError
from .provider import Provider


def describe(name: str) -> dict[str, Any]:
    """The record of one registered provider (JSON-ready).

    Keys: ``name``, ``available`` (importable with its dependencies installed),
    ``install`` (the pip command when not available, else None), ``error`` (when its
    module does not import), and for an importable one also ``summary``, ``example``
    (a config string), ``network`` (whether it needs the network: an attribute, not a
    capability), ``capabilities``, ``options`` (name → type, default, doc; ``api_key``
    left out), ``credential_env`` and ``credentials_configured``.
    """
    try:
        cls = registry.get(name)
    except ConfigError as e:
        hint = re.search(r"pip install '[^']+'", str(e))
        return {"name": name, "available": False, "install": hint.group(0) if hint else None, "error": str(e)}
    missing = cls.missing_requirements()
    caps = attrs.asdict(cls.capabilities)
    network = caps.pop("needs_network")
    cred = cls.credential_env
    return {
        "name": name,
        "available": not missing,
        "install": (f"pip install '{cls.install}'" if cls.install else f"pip install {' '.join(missing)}")
        if missing
        else None,
        "summary": plain((inspect.getdoc(cls) or "").split("\n", 1)[0]),
        "example": example(cls),
        "network": network,
        "capabilities": {"streaming": True, **caps},
        "options": {
            k: v
            for k, v in options(cls).items()
            if k != "api_key" and (network or k not in ("base_url", "insecure_transport"))
        },
        "credential_env": cred,
        "credentials_configured": bool(os.environ.get(cred)) if cred else True,
    }


def example(cls: type[Provider[Any]]) -> str:
    """A config string with the provider's default model and language, e.g. ``local/tiny.en:en``."""
    defaults = {f.name: f.default for f in attrs.fields(cls.options_class)}
    model, language = defaults.get("model"), defaults.get("language")
    return (
        cls.name
        + (f"/{model}" if isinstance(model, str) and model else "")
        + (f":{language}" if isinstance(language, str) and language else "")
    )


def options(cls: type[Provider[Any]]) -> dict[str, dict[str, Any]]:
    """Each option of the provider: ``type`` (as written), ``default`` and ``doc`` (from the docstrings)."""
    hints = typing.get_type_hints(cls.options_class)
    docs = _attribute_docs(cls.options_class)
    out: dict[str, dict[str, Any]] = {}
    fields = sorted(attrs.fields(cls.options_class), key=lambda f: f.name not in ("model", "language"))
    for f in fields:
        default = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        out[f.name] = {
            "type": _type_name(hints.get(f.name, str)),
            "default": None if default is attrs.NOTHING else default,
            "doc": plain(docs.get(f.name, "")),
        }
    return out


def capability_names(caps: dict[str, Any]) -> list[str]:
    """The boolean capabilities that hold, in words (``word timestamps``)."""
    return [k.replace("_", " ") for k, v in caps.items() if v is True]


_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")


def plain(doc: str) -> str:
    """A docstring's text for a terminal: reST literals (````x````) and Sphinx cross-references
    (``:class:`~speechkit.errors.ConfigError```) as `x` and `ConfigError` (the last part for ``~``)."""
    text = _ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", doc)
    return text.replace("``", "`")


def first_sentence(doc: str) -> str:
    """The first sentence of an option's doc (a period outside parentheses), reST literals as `x`."""
    text = plain(doc)
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        abbreviation = text[: i + 1].endswith(("e.g.", "i.e."))
        if ch == "." and depth <= 0 and not abbreviation and (i + 1 == len(text) or text[i + 1] == " "):
            return text[: i + 1]
    return text


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _attribute_docs(cls: type) -> dict[str, str]:
    """``name: text`` entries of the Google-style ``Attributes:`` sections of a class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.cleandoc(klass.__doc__ or "") if "__doc__" in vars(klass) else ""
        section = doc.partition("Attributes:\n")[2]
        current = None
        for line in section.splitlines():
            m = re.match(r"^    (\w+): (.*)", line)
            if m:
                current = m.group(1)
                docs[current] = m.group(2).strip()
            elif current and line.startswith("        "):
                docs[current] += " " + line.strip()
            elif line.strip() and not line.startswith(" "):
                break
    return docs


__all__ = ["capability_names", "describe", "example", "first_sentence", "options"]
