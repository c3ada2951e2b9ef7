"""A window's analysis as text (the CLI) and as one self-contained HTML file (inline SVG charts,
no script, no external file)."""

from __future__ import annotations

import datetime as dt
import html
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from runstone.monitoring.drift import JS_THRESHOLD, WASSERSTEIN_THRESHOLD


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(value: object, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _statistic(f: Mapping[str, object]) -> str:
    test = f.get("test")
    if test == "ks":
        return f"KS p={_num(f.get('ks_pvalue'))}"
    if test == "wasserstein":
        return f"W/std={_num(f.get('wasserstein_norm'))} (> {WASSERSTEIN_THRESHOLD})"
    if test == "chi2":
        return f"chi2 p={_num(f.get('chi2_pvalue'))}"
    if test == "js":
        return f"JS={_num(f.get('js_distance'))} (> {JS_THRESHOLD})"
    return "-"


def render_text(result: Mapping[str, Any]) -> str:
    lines = [
        f"{result['model']} version {result['version']}: {_when(result['start'])} to {_when(result['end'])}",
        f"  traffic: {result.get('requests', 0)} requests, {result.get('rows', 0)} rows, "
        f"{result.get('errors', 0)} errors, latency p50 {_num(result.get('latency_p50'))} ms, "
        f"p95 {_num(result.get('latency_p95'))} ms",
    ]
    if result.get("reference", "present") is None:
        lines.append("  drift: no reference profile (runstone monitor profile)")
    features: Mapping[str, Any] = result.get("features") or {}
    if features:
        drifted = result.get("drifted") or []
        lines.append(
            f"  drift: {len(drifted)} of {len(features)} features drifted"
            + (f" ({', '.join(drifted)})" if drifted else "")
        )
        width = max(len(n) for n in features)
        for name, f in features.items():
            mark = "DRIFT" if f.get("drifted") else "ok"
            lines.append(
                f"    {name:<{width}}  {mark:<5}  PSI {_num(f.get('psi'))}  {_statistic(f)}  "
                f"missing {f.get('missing', 0):.1%}  out of range {_num(f.get('out_of_range'), '.1%')}"
            )
    prediction = result.get("prediction")
    if prediction:
        lines.append(
            f"  predictions: {'DRIFT' if prediction.get('drifted') else 'ok'}  PSI {_num(prediction.get('psi'))}  {_statistic(prediction)}"
        )
    quality = result.get("quality")
    if quality:
        reference = result.get("reference_quality") or {}
        shown = ", ".join(
            f"{k} {v:.4g}" + (f" (training {reference[k]:.4g})" if k in reference else "") for k, v in quality.items()
        )
        lines.append(f"  quality on {result.get('labelled', 0)} labelled rows: {shown}")
    else:
        lines.append("  quality: no labels yet (runstone monitor labels)")
    return "\n".join(lines)


def _bars(reference: Sequence[float], current: Sequence[float], labels: Sequence[str]) -> str:
    """Paired bars, reference (grey) against current (blue), as inline SVG."""
    width, height, pad = 360, 120, 16
    count = max(len(reference), 1)
    top = max([*reference, *current, 1e-9])
    slot = (width - 2 * pad) / count
    parts = [f'<svg width="{width}" height="{height + 30}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for i in range(count):
        for j, (values, colour) in enumerate(((reference, "#9aa5b1"), (current, "#2f6fde"))):
            value = values[i] if i < len(values) else 0.0
            h = value / top * height
            x = pad + i * slot + j * slot / 2.2
            parts.append(
                f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{slot / 2.4:.1f}" height="{h:.1f}" fill="{colour}"><title>{html.escape(labels[i] if i < len(labels) else "")}: {value:.3f}</title></rect>'
            )
    parts.append(f'<text x="{pad}" y="{height + 20}" font-size="11">grey: reference · blue: this window</text></svg>')
    return "".join(parts)


def _chart(name: str, f: Mapping[str, Any], reference: Mapping[str, Any] | None) -> str:
    if reference is None:
        return ""
    if f.get("type") == "numeric" and f.get("histogram") and reference.get("histogram"):
        edges = reference["histogram"]["edges"]
        labels = [
            f"< {edges[0]:.3g}" if edges else "all",
            *[f"{a:.3g} to {b:.3g}" for a, b in itertools.pairwise(edges)],
            *([f">= {edges[-1]:.3g}"] if edges else []),
        ]
        return _bars(reference["histogram"]["shares"], f["histogram"]["shares"], labels)
    if f.get("type") == "categorical" and f.get("shares"):
        labels = [*reference["top"], "other"]
        return _bars(
            [*reference["top"].values(), reference.get("other", 0.0)], [f["shares"].get(k, 0.0) for k in labels], labels
        )
    return ""


def render_html(result: Mapping[str, Any], profile: Mapping[str, Any] | None) -> str:
    title = f"Monitoring report: {result['model']} version {result['version']}"
    features: Mapping[str, Any] = result.get("features") or {}
    reference_features: Mapping[str, Any] = (profile or {}).get("features") or {}
    rows = []
    for name, f in features.items():
        rows.append(
            f'<tr class="{"drift" if f.get("drifted") else ""}"><td>{html.escape(name)}</td><td>{"drifted" if f.get("drifted") else "ok"}</td>'
            f"<td>{_num(f.get('psi'))}</td><td>{html.escape(_statistic(f))}</td><td>{f.get('missing', 0):.1%}</td>"
            f"<td>{_chart(name, f, reference_features.get(name))}</td></tr>"
        )
    quality = result.get("quality") or {}
    summary = html.escape(render_text(result))
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"
        "tr.drift td:nth-child(2){color:#b00020;font-weight:bold}pre{background:#f6f8fa;padding:1em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{_when(result['start'])} to {_when(result['end'])}</p>"
        f"<pre>{summary}</pre>"
        + (
            f"<h2>Quality</h2><p>{html.escape(', '.join(f'{k} {v:.4g}' for k, v in quality.items()))}</p>"
            if quality
            else ""
        )
        + "<h2>Features</h2><table><tr><th>feature</th><th>verdict</th><th>PSI</th><th>test</th><th>missing</th>"
        "<th>reference against this window</th></tr>" + "".join(rows) + "</table></body></html>"
    )
