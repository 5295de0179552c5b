"""What each vendor bills for a stream, by its own rule, and what that costs at a price table.

Vendors do not bill the same quantity:

* ``assemblyai`` bills the **session**: "Billing for streaming sessions starts when the
  WebSocket connection opens and stops when the session ends", idle time included, each
  session on its own (https://www.assemblyai.com/docs/billing-and-pricing, "Streaming
  Speech-to-Text billing"; https://www.assemblyai.com/docs/faq/how-does-universal-streaming-session-based-pricing-work).
* ``speechmatics`` bills the **audio**: real-time usage is counted in hours of audio processed
  (https://docs.speechmatics.com/speech-to-text/realtime/limits, "hours of audio users can
  process each month"); whether a session's idle time counts is not published.
* ``telnyx`` bills the **audio**: "Billed per minute of audio streamed in real time"
  (https://developers.telnyx.com/docs/voice/stt/websocket-streaming/pricing); the rounding
  increment is not published, so it is billed here pro rata.
* ``local`` bills nothing (it runs on your machine).
* Any other provider: the audio sent.

Audio sent is what the core handed each connection (:mod:`.measure`). It counts replays:
audio a stream replays to a new connection after a drop is sent, and billed, again. It also
counts what was sent into a connection that had already dropped before the drop was seen,
which the vendor never received: after a drop it is an upper bound. Session time is measured
on the client, from each connection's handshake to its close (or the failure that ended it),
so it is within a connect's time of the vendor's.

Prices are US dollars per hour of the billed quantity. Only list prices found in a vendor's
own pages are defaults (:data:`DEFAULT_PRICES`); the rest must come from the user
(``--price NAME=USD_PER_HOUR``, ``--prices FILE``), else the cost is unknown, never zero.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import attrs

from ..errors import ConfigError

Basis = Literal["session", "audio", "none"]


@attrs.frozen
class BillingRule:
    """How a vendor bills a stream.

    Attributes:
        basis: ``"session"`` (seconds each connection was open), ``"audio"`` (seconds of
            audio sent, replays included) or ``"none"``.
        source: Where the rule is stated.
    """

    basis: Basis
    source: str


RULES: dict[str, BillingRule] = {
    "assemblyai": BillingRule("session", "https://www.assemblyai.com/docs/billing-and-pricing"),
    "speechmatics": BillingRule("audio", "https://docs.speechmatics.com/speech-to-text/realtime/limits"),
    "telnyx": BillingRule(
        "audio", "https://developers.telnyx.com/docs/voice/stt/websocket-streaming/pricing"
    ),
    "local": BillingRule("none", "runs on this machine"),
}
"""The billing rule of each built-in provider (see the module docstring for what each says)."""

DEFAULT_RULE = BillingRule("audio", "speechkit's usage count (no rule known for this provider)")

DEFAULT_PRICES: dict[str, float] = {
    "local": 0.0,
    # "$0.15/hr pricing based on total session duration"
    # (https://www.assemblyai.com/blog/introducing-universal-streaming)
    "assemblyai/universal-streaming-english": 0.15,
    "assemblyai/universal-streaming-multilingual": 0.15,
}
"""USD per billed hour, keyed ``provider/model`` or ``provider``. Speechmatics and Telnyx
publish no rate in their docs (Telnyx: "varies by engine and model"): give one with ``--price``."""


def rule_for(provider: str) -> BillingRule:
    """The billing rule of ``provider`` (:data:`DEFAULT_RULE` for one not in :data:`RULES`)."""
    return RULES.get(provider, DEFAULT_RULE)


@attrs.frozen
class PriceTable:
    """USD per billed hour: the user's prices over :data:`DEFAULT_PRICES`.

    A key is ``provider/model`` or ``provider``; the user's ``provider`` price beats a default
    ``provider/model`` one (``--price assemblyai=0.2`` prices every AssemblyAI model).
    """

    user: Mapping[str, float] = attrs.field(factory=dict)
    defaults: Mapping[str, float] = attrs.field(factory=lambda: dict(DEFAULT_PRICES))

    def price(self, provider: str, model: str | None) -> float | None:
        """USD per hour for ``provider`` with ``model``, or None when no table has it."""
        for table in (self.user, self.defaults):
            for key in (f"{provider}/{model}" if model else None, provider):
                if key is not None and key in table:
                    return table[key]
        return None

    def as_dict(self) -> dict[str, float]:
        """Every price in force (the user's over the defaults)."""
        return {**self.defaults, **self.user}


def _usd(key: str, value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: the price of {key!r} must be a number (USD per hour), got {value!r}")
    try:
        usd = float(value)
    except ValueError:
        raise ConfigError(
            f"{where}: the price of {key!r} must be a number (USD per hour), got {value!r}"
        ) from None
    if not math.isfinite(usd) or usd < 0:
        raise ConfigError(f"{where}: the price of {key!r} must be 0 or more USD per hour, got {value!r}")
    return usd


def load_prices(path: str | None = None, overrides: Iterable[str] = ()) -> PriceTable:
    """The price table from a JSON file and ``NAME=USD_PER_HOUR`` overrides (which win).

    Args:
        path: A JSON object ``{"provider[/model]": usd_per_hour, ...}``, or None.
        overrides: ``"telnyx=0.9"``, ``"assemblyai/u3-rt-pro=0.45"``, ...

    Raises:
        ConfigError: the file cannot be read or is not such an object, or a price is not a
            number of 0 or more.
    """
    user: dict[str, float] = {}
    if path is not None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"--prices {path}: {getattr(e, 'strerror', None) or e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"--prices {path}: expected a JSON object of USD per hour by provider")
        user.update({str(k): _usd(str(k), v, f"--prices {path}") for k, v in data.items()})
    for item in overrides:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--price takes NAME=USD_PER_HOUR, got {item!r}")
        user[key.strip()] = _usd(key.strip(), value.strip(), "--price")
    return PriceTable(user)


@attrs.frozen
class Bill:
    """What one vendor bills for one run (or a provider's runs summed).

    Attributes:
        provider: The vendor's provider name.
        model: Its model, or None.
        basis: The rule's basis (:class:`BillingRule`).
        seconds: Billed seconds.
        usd_per_hour: The price used, or None when unknown.
    """

    provider: str
    model: str | None
    basis: Basis
    seconds: float
    usd_per_hour: float | None

    @property
    def cost(self) -> float | None:
        """USD, or None when the price is unknown (and something is billed)."""
        if self.basis == "none" or self.seconds == 0:
            return 0.0
        return None if self.usd_per_hour is None else self.seconds / 3600 * self.usd_per_hour


def bill(
    provider: str, model: str | None, *, session_seconds: float, audio_seconds: float, prices: PriceTable
) -> Bill:
    """The bill of one vendor: its rule applied to what it was sent and how long it was connected.

    Args:
        provider: Provider name.
        model: Its model, or None.
        session_seconds: Seconds its connections were open, summed.
        audio_seconds: Seconds of audio sent to it, replays included.
        prices: The price table.
    """
    rule = rule_for(provider)
    seconds = {"session": session_seconds, "audio": audio_seconds, "none": 0.0}[rule.basis]
    return Bill(provider, model, rule.basis, seconds, prices.price(provider, model))


def total_cost(bills: Iterable[Bill]) -> float | None:
    """The sum of the bills' costs; None when any is unknown."""
    total = 0.0
    for b in bills:
        if (c := b.cost) is None:
            return None
        total += c
    return total
