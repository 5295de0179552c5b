"""The comparison as one self-contained HTML page (``--html FILE``): inline CSS and SVG, no
script, nothing fetched, so it opens offline and can be mailed as one file.

It holds the summary table, a latency distribution per provider (final latency and time to
first interim: every sample as a dot, the interquartile box, the median and the 95th
percentile marked), WER per file (a bar per provider), and each run's transcript beside its
reference.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from .billing import total_cost
from .report import Summary, stats

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
_W = 1000  # SVG width, px
_LEFT = 250  # room for the provider labels
_RIGHT = 200  # room for the figures beside each row


def _short(text: str, n: int = 34) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def _ticks(top: float) -> list[float]:
    """About five round tick values from 0 to ``top``."""
    if top <= 0:
        return [0.0]
    raw = top / 5
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    return [float(t) for t in np.arange(0, top + step * 0.01, step)]


def latency_svg(summaries: Sequence[Summary], kind: str, title: str) -> str:
    """A strip-and-box plot of ``kind`` (``final_latency`` or ``time_to_first_interim``) per provider."""
    rows = [(s.label, s.latencies(kind)) for s in summaries]
    values = [v for _, vs in rows for v in vs]
    if not values:
        return f"<p class=note>{_e(title)}: no samples.</p>"
    top = max(values) * 1.05 or 1.0
    row_h, pad = 46, 34
    h = pad + row_h * len(rows) + 30
    plot = _W - _LEFT - _RIGHT

    def x(v: float) -> float:
        return _LEFT + plot * v / top

    out = [f'<svg viewBox="0 0 {_W} {h}" width="{_W}" height="{h}" role="img" aria-label="{_e(title)}">']
    out.append(f'<text x="{_LEFT}" y="18" class="t">{_e(title)} (seconds)</text>')
    for t in _ticks(top):
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{pad - 6}" y2="{h - 26}" class="grid"/>')
        out.append(f'<text x="{x(t):.1f}" y="{h - 10}" class="tick">{t:g}</text>')
    rng = np.random.default_rng(0)  # fixed jitter: the same page for the same figures
    for i, (label, vs) in enumerate(rows):
        cy = pad + row_h * i + row_h / 2
        colour = _colour(i)
        out.append(
            f'<text x="{_LEFT - 10}" y="{cy + 4:.1f}" class="lab">{_e(_short(label))}'
            f"<title>{_e(label)}</title></text>"
        )
        if not vs:
            out.append(f'<text x="{_LEFT + 6}" y="{cy + 4:.1f}" class="small">none</text>')
            continue
        q1, q2, q3, p95 = np.percentile(vs, [25, 50, 75, 95])
        out.append(
            f'<rect x="{x(q1):.1f}" y="{cy - 11:.1f}" width="{max(1.0, x(q3) - x(q1)):.1f}" height="22" '
            f'fill="{colour}" fill-opacity="0.15" stroke="{colour}"/>'
        )
        for v in vs:
            jy = cy + rng.uniform(-9, 9)
            out.append(f'<circle cx="{x(v):.1f}" cy="{jy:.1f}" r="2.6" fill="{colour}" fill-opacity="0.55"/>')
        out.append(
            f'<line x1="{x(q2):.1f}" x2="{x(q2):.1f}" y1="{cy - 14:.1f}" y2="{cy + 14:.1f}" '
            f'stroke="{colour}" stroke-width="3"/>'
        )
        out.append(
            f'<path d="M{x(p95):.1f} {cy - 16:.1f} l-5 -7 h10 z" fill="{colour}"><title>p95</title></path>'
        )
        out.append(
            f'<text x="{_W - _RIGHT + 16}" y="{cy + 4:.1f}" class="small">p50 {q2:.2f} · p95 {p95:.2f} '
            f"· n={len(vs)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def short_names(paths: Sequence[str]) -> dict[str, str]:
    """Each path by its fewest last components that tell it from the others
    (``a/jfk.wav`` and ``b/jfk.wav`` stay two)."""
    parts = {p: p.replace("\\", "/").split("/") for p in paths}
    out: dict[str, str] = {}
    for p, comps in parts.items():
        for n in range(1, len(comps) + 1):
            tail = comps[-n:]
            if all(q == p or qc[-n:] != tail for q, qc in parts.items()):
                break
        out[p] = "/".join(tail)
    return out


def wer_svg(summaries: Sequence[Summary]) -> str:
    """WER per file: one group per file, one bar per provider."""
    files = list(dict.fromkeys(r.file for s in summaries for r in s.runs if r.wer is not None))
    names = short_names(files)
    if not files:
        return "<p class=note>WER: no reference given (--reference).</p>"
    wer = {(s.label, r.file): r.wer for s in summaries for r in s.runs}
    top = max([0.05, *(w for w in wer.values() if w is not None)]) * 1.1  # all 0%: a 0-5% scale
    bar, gap = 14, 14
    group = bar * len(summaries) + gap
    pad = 40 + 16 * len(summaries)  # the legend, one provider a line
    h = pad + group * len(files) + 30
    plot = _W - _LEFT - 90

    def x(v: float) -> float:
        return _LEFT + plot * v / top

    out = [f'<svg viewBox="0 0 {_W} {h}" width="{_W}" height="{h}" role="img" aria-label="WER per file">']
    out.append(f'<text x="{_LEFT}" y="18" class="t">WER per file (lower is better)</text>')
    for i, s in enumerate(summaries):  # legend
        out.append(f'<rect x="{_LEFT}" y="{28 + 16 * i}" width="12" height="12" fill="{_colour(i)}"/>')
        out.append(f'<text x="{_LEFT + 16}" y="{38 + 16 * i}" class="small">{_e(s.label)}</text>')
    for t in _ticks(top):
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{pad - 4}" y2="{h - 26}" class="grid"/>')
        out.append(f'<text x="{x(t):.1f}" y="{h - 10}" class="tick">{t * 100:g}%</text>')
    for j, f in enumerate(files):
        y0 = pad + group * j
        name = names[f]
        out.append(
            f'<text x="{_LEFT - 10}" y="{y0 + group / 2:.1f}" class="lab">{_e(_short(name))}'
            f"<title>{_e(f)}</title></text>"
        )
        for i, s in enumerate(summaries):
            w = wer.get((s.label, f))
            y = y0 + bar * i
            if w is None:
                out.append(f'<text x="{_LEFT + 4}" y="{y + bar - 3}" class="small">failed / no run</text>')
                continue
            out.append(
                f'<rect x="{_LEFT}" y="{y}" width="{max(1.0, x(w) - _LEFT):.1f}" height="{bar - 2}" '
                f'fill="{_colour(i)}"><title>{_e(s.label)}: {w * 100:.1f}%</title></rect>'
            )
            out.append(f'<text x="{x(w) + 4:.1f}" y="{y + bar - 3}" class="small">{w * 100:.1f}%</text>')
    out.append("</svg>")
    return "\n".join(out)


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _summary_table(summaries: Sequence[Summary]) -> str:
    head = (
        "<tr><th>provider</th><th>files</th><th>audio s</th><th>WER</th><th>TTFI p50</th><th>TTFI p95</th>"
        "<th>final p50</th><th>final p95</th><th>reconnects</th><th>errors</th><th>failed</th>"
        "<th>billed s</th><th>basis</th><th>cost USD</th></tr>"
    )
    rows = []
    for i, s in enumerate(summaries):
        ttfi, fin = stats(s.latencies("time_to_first_interim")), stats(s.latencies("final_latency"))
        bills = s.bills
        w = s.wer
        rows.append(
            f'<tr><td class=p><span class=sw style="background:{_colour(i)}"></span>{_e(s.label)}</td>'
            f"<td>{len(s.runs)}</td><td>{s.audio_seconds:.1f}</td>"
            f"<td>{'–' if w is None else f'{w * 100:.1f}%'}</td>"
            f"<td>{_fmt(ttfi['p50'])}</td><td>{_fmt(ttfi['p95'])}</td>"
            f"<td>{_fmt(fin['p50'])}</td><td>{_fmt(fin['p95'])}</td>"
            f"<td>{sum(r.reconnects for r in s.runs)}</td><td>{sum(len(r.errors) for r in s.runs)}</td>"
            f"<td>{sum(r.failed is not None for r in s.runs)}</td>"
            f"<td>{sum(b.seconds for b in bills):.1f}</td>"
            f"<td>{_e('/'.join(sorted({b.basis for b in bills})) or '–')}</td>"
            f"<td>{_fmt(total_cost(bills), 4)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _runs_table(summaries: Sequence[Summary]) -> str:
    rows = []
    for s in summaries:
        for r in s.runs:
            status = _e(r.failed) if r.failed else "ok"
            rows.append(
                f"<tr><td>{_e(r.file)}</td><td class=p>{_e(s.label)}</td>"
                f"<td>{'–' if r.wer is None else f'{r.wer * 100:.1f}%'}</td>"
                f"<td>{_fmt(stats(r.final_latency)['p50'])}</td><td>{r.reconnects}</td>"
                f"<td>{len(r.errors)}</td><td>{status}</td>"
                f"<td><details><summary>transcript</summary><p><b>heard:</b> {_e(r.transcript)}</p>"
                f"<p><b>reference:</b> {_e(r.reference or '–')}</p></details></td></tr>"
            )
    head = (
        "<tr><th>file</th><th class=p>provider</th><th>WER</th><th>final p50</th><th>reconnects</th>"
        "<th>errors</th><th>status</th><th></th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
td.p,th.p{text-align:left;max-width:240px;overflow-wrap:anywhere}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}
.sw{display:inline-block;width:10px;height:10px;margin-right:6px}
svg text{font:12px system-ui,sans-serif;fill:#222}svg .t{font-size:14px;font-weight:600}
svg .lab{text-anchor:end}svg .tick{text-anchor:middle;fill:#666}svg .small{font-size:11px}
svg .grid{stroke:#e4e4e4}.note{color:#666}details p{text-align:left;margin:4px 0}
"""


def render_page(summaries: Sequence[Summary], meta: dict[str, Any]) -> str:
    """The HTML page.

    Args:
        summaries: One per provider (:func:`speechkit.compare.report.summarise`).
        meta: ``realtime`` and ``concurrency`` (shown under the title).
    """
    mode = "paced at 1x (a live caller)" if meta.get("realtime") else "pushed as fast as taken"
    notes = (
        "Latency in seconds. TTFI: time to first interim, from the utterance's first audio. "
        "Final: from the end of a final's audio to the final. Billed seconds follow each "
        "vendor's rule (session: the time connected; audio: the audio sent)."
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>speechkit compare</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>speechkit compare</h1>"
        f"<p class=note>Audio {_e(mode)}; at most {int(meta.get('concurrency', 1))} streams at once. "
        f"{notes}</p>"
        f"<h2>Summary</h2>{_summary_table(summaries)}"
        "<h2>Final latency</h2><p class=note>Each dot a sample; the box spans the middle half "
        "(25th to 75th percentile), the bar is the median (p50), the triangle the 95th percentile.</p>"
        f"{latency_svg(summaries, 'final_latency', 'Final latency')}"
        f"<h2>Time to first interim</h2>"
        f"{latency_svg(summaries, 'time_to_first_interim', 'Time to first interim')}"
        f"<h2>WER per file</h2>{wer_svg(summaries)}"
        f"<h2>Runs</h2>{_runs_table(summaries)}"
        "</body></html>\n"
    )
