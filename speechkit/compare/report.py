"""The comparison's figures per provider (:func:`summarise`), as a terminal table and as JSON.

The JSON (``--json FILE``, :func:`to_json`) is ``{"schema": "speechkit.compare/1", ...}``;
its fields are listed in :data:`JSON_SCHEMA` and the README. Seconds throughout, US dollars
for costs; ``null`` where a figure is unknown (no reference, no interim, no price).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from .billing import Bill, PriceTable, bill, rule_for, total_cost
from .measure import Run

SCHEMA = "speechkit.compare/1"

JSON_SCHEMA = """\
{
  "schema": "speechkit.compare/1",
  "realtime": bool,                  # audio paced at 1x (latencies are a caller's wait)
  "concurrency": int,                # streams at once at most
  "normaliser": "whisper-english" | null,   # WER's text normaliser; null: no reference given
  "prices_usd_per_hour": {"provider[/model]": float},
  "providers": [{                    # one per --stt, in order
    "label": str, "config": str,     # config: canonical, credential options left out
    "files": int, "audio_seconds": float,
    "wer": float | null,             # over all words of the files with a reference
    "time_to_first_interim": Stats, "final_latency": Stats,
    "final_latency_estimated": int,  # finals without times, their end estimated
    "reconnects": int, "errors": int, "failed_files": int,
    "bills": [Bill], "cost_usd": float | null   # null: a price is missing
  }],
  "runs": [{                         # one per file and provider
    "label": str, "file": str, "audio_seconds": float, "wall_seconds": float,
    "reference": str | null, "transcript": str, "finals": int,
    "wer": float | null, "reference_words": int | null,
    "time_to_first_interim": [float], "final_latency": [float], "final_latency_estimated": int,
    "connections": [{"provider": str, "model": str | null, "opened": float, "closed": float | null}],
    "audio_sent": {"provider": float},
    "reconnects": int, "errors": [str], "failed": str | null,
    "bills": [Bill], "cost_usd": float | null
  }]
}
Stats = {"count": int, "p50": float | null, "p95": float | null, "mean": float | null}
Bill = {"provider": str, "model": str | null, "basis": "session" | "audio" | "none",
        "seconds": float, "usd_per_hour": float | null, "cost_usd": float | null, "rule": str}
"""
"""The shape of :func:`to_json`'s output (``# comments`` say what a field means)."""


def stats(values: Sequence[float]) -> dict[str, Any]:
    """Count, median (p50), 95th percentile and mean of ``values`` (numpy's linear
    interpolation between order statistics); None for an empty sequence."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "mean": None}
    a = np.asarray(values, dtype=float)
    p50, p95 = np.percentile(a, [50, 95])
    return {"count": len(values), "p50": float(p50), "p95": float(p95), "mean": float(a.mean())}


def run_bills(run: Run, prices: PriceTable) -> list[Bill]:
    """What each provider that served ``run`` bills for it."""
    return [
        bill(
            name,
            model,
            session_seconds=run.session_seconds(name),
            audio_seconds=run.audio_sent.get(name, 0.0),
            prices=prices,
        )
        for name, model in run.members()
    ]


@attrs.define
class Summary:
    """One config string's figures over all inputs.

    Attributes:
        label: Its label.
        config: The config string, credential options left out.
        runs: Its runs, one per input.
        prices: The price table.
    """

    label: str
    config: str
    runs: list[Run]
    prices: PriceTable

    @property
    def audio_seconds(self) -> float:
        return sum(r.audio_seconds for r in self.runs)

    @property
    def wer(self) -> float | None:
        """WER over all words of the inputs with a reference (corpus WER), or None."""
        from ..wer import corpus_wer, english_normaliser

        scored = [r for r in self.runs if r.reference is not None]
        if not scored:
            return None
        norm = english_normaliser()
        w = corpus_wer([norm(r.reference or "") for r in scored], [norm(r.transcript) for r in scored])
        return None if math.isnan(w) else w

    def latencies(self, kind: str) -> list[float]:
        """Every ``time_to_first_interim`` or ``final_latency`` sample of the runs."""
        return [v for r in self.runs for v in getattr(r, kind)]

    @property
    def bills(self) -> list[Bill]:
        """Each provider's bill, summed over the runs."""
        out: dict[tuple[str, str | None], Bill] = {}
        for r in self.runs:
            for b in run_bills(r, self.prices):
                key = (b.provider, b.model)
                prev = out.get(key)
                out[key] = b if prev is None else attrs.evolve(prev, seconds=prev.seconds + b.seconds)
        return list(out.values())


def summarise(labels: Sequence[tuple[str, str]], runs: Sequence[Run], prices: PriceTable) -> list[Summary]:
    """One :class:`Summary` per ``(label, config)``, in order, from the runs carrying its label."""
    return [Summary(label, config, [r for r in runs if r.label == label], prices) for label, config in labels]


# -- terminal -----------------------------------------------------------------------------


def _f(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell: the first left-aligned, the figures right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def render_table(summaries: Sequence[Summary], *, realtime: bool) -> str:
    """The terminal report: one row per provider, then one per file and provider."""
    rows = []
    for s in summaries:
        ttfi, fin = stats(s.latencies("time_to_first_interim")), stats(s.latencies("final_latency"))
        bills = s.bills
        billed = sum(b.seconds for b in bills)
        basis = "/".join(sorted({b.basis for b in bills})) or "-"
        cost = total_cost(bills)
        rows.append(
            [
                s.label,
                str(len(s.runs)),
                f"{s.audio_seconds:.1f}",
                _pct(s.wer),
                _f(ttfi["p50"]),
                _f(ttfi["p95"]),
                _f(fin["p50"]),
                _f(fin["p95"]),
                str(sum(r.reconnects for r in s.runs)),
                str(sum(len(r.errors) for r in s.runs)),
                str(sum(r.failed is not None for r in s.runs)),
                f"{billed:.1f}",
                basis,
                _f(cost, "{:.4f}"),
            ]
        )
    header = [
        "provider", "files", "audio s", "WER", "TTFI p50", "TTFI p95", "final p50", "final p95",
        "reconn", "errors", "failed", "billed s", "basis", "cost USD",
    ]  # fmt: skip
    parts = [_table(header, rows)]
    file_rows = []
    for s in summaries:
        for r in s.runs:
            fin = stats(r.final_latency)
            file_rows.append(
                [
                    r.file,
                    s.label,
                    _pct(r.wer),
                    _f(fin["p50"]),
                    str(r.reconnects),
                    str(len(r.errors)),
                    "failed" if r.failed else "ok",
                ]
            )
    parts.append(_table(["file", "provider", "WER", "final p50", "reconn", "errors", "status"], file_rows))
    notes = ["latency in seconds (TTFI: time to first interim; final: end of the audio -> its final)"]
    if not realtime:
        notes.append(
            "audio pushed as fast as taken: latencies count the queue (use --realtime for a caller's)"
        )
    unpriced = sorted({b.provider for s in summaries for b in s.bills if b.cost is None})
    if unpriced:
        notes.append(f"no price for {', '.join(unpriced)}: give one with --price NAME=USD_PER_HOUR")
    failed = [f"{r.file} ({s.label}): {r.failed}" for s in summaries for r in s.runs if r.failed]
    notes.extend(f"failed: {f}" for f in failed)
    return "\n\n".join(parts) + "\n\n" + "\n".join(f"* {n}" for n in notes) + "\n"


# -- JSON ---------------------------------------------------------------------------------


def _bill_json(b: Bill) -> dict[str, Any]:
    return {
        "provider": b.provider,
        "model": b.model,
        "basis": b.basis,
        "seconds": round(b.seconds, 3),
        "usd_per_hour": b.usd_per_hour,
        "cost_usd": b.cost,
        "rule": rule_for(b.provider).source,
    }


def _ref_words(run: Run) -> int | None:
    if run.reference is None:
        return None
    from ..wer import english_normaliser

    return len(english_normaliser()(run.reference).split())


def to_json(summaries: Sequence[Summary], *, realtime: bool, concurrency: int) -> dict[str, Any]:
    """The whole comparison as :data:`JSON_SCHEMA` describes it."""
    prices = summaries[0].prices.as_dict() if summaries else {}
    has_ref = any(r.reference is not None for s in summaries for r in s.runs)
    providers, runs = [], []
    for s in summaries:
        bills = s.bills
        providers.append(
            {
                "label": s.label,
                "config": s.config,
                "files": len(s.runs),
                "audio_seconds": round(s.audio_seconds, 3),
                "wer": s.wer,
                "time_to_first_interim": stats(s.latencies("time_to_first_interim")),
                "final_latency": stats(s.latencies("final_latency")),
                "final_latency_estimated": sum(r.final_latency_estimated for r in s.runs),
                "reconnects": sum(r.reconnects for r in s.runs),
                "errors": sum(len(r.errors) for r in s.runs),
                "failed_files": sum(r.failed is not None for r in s.runs),
                "bills": [_bill_json(b) for b in bills],
                "cost_usd": total_cost(bills),
            }
        )
        for r in s.runs:
            rb = run_bills(r, s.prices)
            runs.append(
                {
                    "label": r.label,
                    "file": r.file,
                    "audio_seconds": round(r.audio_seconds, 3),
                    "wall_seconds": round(r.wall_seconds, 3),
                    "reference": r.reference,
                    "transcript": r.transcript,
                    "finals": r.finals,
                    "wer": r.wer,
                    "reference_words": _ref_words(r),
                    "time_to_first_interim": r.time_to_first_interim,
                    "final_latency": r.final_latency,
                    "final_latency_estimated": r.final_latency_estimated,
                    "connections": [
                        {"provider": c.provider, "model": c.model, "opened": c.opened, "closed": c.closed}
                        for c in r.connections
                    ],
                    "audio_sent": r.audio_sent,
                    "reconnects": r.reconnects,
                    "errors": r.errors,
                    "failed": r.failed,
                    "bills": [_bill_json(b) for b in rb],
                    "cost_usd": total_cost(rb),
                }
            )
    return {
        "schema": SCHEMA,
        "realtime": realtime,
        "concurrency": concurrency,
        "normaliser": "whisper-english" if has_ref else None,
        "prices_usd_per_hour": prices,
        "providers": providers,
        "runs": runs,
    }
