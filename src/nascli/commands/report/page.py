"""report.html: the whole report on one self-contained page.

Every picture is embedded (a data: URI), the page loads nothing (its Content-Security-Policy
allows images from data: only, and no script), and the run directories are links to the
folders on this machine. Sections: the jobs (one row each), the groups (mean ± std, the 95 %
bootstrap intervals and the p-values against the baseline), the plots (best so far, regret, the
objective against cost with its Pareto front), the cells of the best architectures, and what
mattered (importance=true).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nascli.commands.report.rows import Row
from nascli.core.files import write_text_atomic

e = html.escape

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "div.w{overflow-x:auto}"
    "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right;"
    "white-space:nowrap}"
    "td.t,th.t{text-align:left}th{background:#f3f3f3}tr.failed{background:#fde4e4}"
    "figure{margin:1em 0}figcaption{font-size:13px;color:#555}img{max-width:100%;height:auto}"
    "td.t{white-space:normal;max-width:32em}code{font-size:12px;overflow-wrap:anywhere}"
)
# Images from data: URIs only: no request leaves the page, and no script runs.
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CAPTIONS = {
    "best_so_far.png": "The best objective so far against trials and against seconds, per group.",
    "regret.png": "Regret to the table's optimum of the architecture chosen so far.",
    "accuracy_vs_cost.png": "Every evaluated architecture against its cost, with the Pareto "
    "front of the searched points; retrained models as stars.",
    "importance.png": "What mattered: each decision's share of the objective's variance "
    "(fANOVA) and its mean decrease in impurity.",
}


def image(path: Path, alt: str) -> str:
    """An <img> carrying the picture itself (PNG or SVG)."""
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{e(alt)}" src="data:{mime};base64,{data}">'


def _link(row: Row) -> str:
    target = row.path.resolve()
    return f'<a href="{e(target.as_uri())}" title="{e(str(target))}">{e(row.path.name)}</a>'


def _table(head: list[str], body: list[str], text: int) -> str:
    """A table whose first `text` columns are left-aligned (names), the rest figures."""
    cells = "".join(f"<th{' class=t' if i < text else ''}>{e(h)}</th>" for i, h in enumerate(head))
    return f"<div class=w><table><tr>{cells}</tr>{''.join(body)}</table></div>"


def write_page(
    path: Path,
    rows: list[Row],
    keys: list[str],
    columns: list[str],
    grouped: list[dict[str, Any]] | None,
    pictures: list[str],
    winners: list[tuple[Row, Path]],
    mattered: dict[str, Any],
    fmt: Callable[[Any, str], str],
    value: Callable[[Row, str], Any],
) -> None:
    """Write report.html beside the pictures it embeds (`pictures`: names in path's folder)."""
    folder = path.parent
    failed = sum(r.status != "completed" for r in rows)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        f"<title>nas report: {len(rows)} jobs</title><style>{STYLE}</style></head><body>",
        f"<h1>nas report: {len(rows)} jobs ({failed} not completed)</h1>",
        "<h2>Jobs</h2>",
    ]
    body = []
    for r in rows:
        cells = [_link(r), e(r.status), *(e(str(r.settings.get(k, ""))) for k in keys)]
        cells.append(f"<code>{e(r.arch or '-')}</code>")
        cells += [e(fmt(value(r, c), c)) for c in columns]
        cls = ' class="failed"' if r.status != "completed" else ""
        tds = "".join(
            f"<td{' class=t' if i < 3 + len(keys) else ''}>{c}</td>" for i, c in enumerate(cells)
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    parts.append(_table(["job", "status", *keys, "arch", *columns], body, 3 + len(keys)))
    errors = [r for r in rows if r.status != "completed" and r.error]
    if errors:
        parts.append(
            "<ul>" + "".join(f"<li>{_link(r)}: {e(r.error or '')}</li>" for r in errors) + "</ul>"
        )
    if grouped:
        parts += _groups(grouped, columns, fmt)
    shown = [p for p in pictures if (folder / p).is_file()]
    plots = [p for p in shown if p in CAPTIONS and p != "importance.png"]
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [_figure(folder / p, CAPTIONS[p]) for p in plots]
    if winners:
        parts.append("<h2>The best architectures</h2>")
        for r, picture in winners:
            caption = f"{_link(r)}: <code>{e(r.arch or '')}</code>"
            parts.append(f"<figure>{image(picture, r.arch or '')}<figcaption>{caption}"
                         "</figcaption></figure>")  # fmt: skip
    rest = [p for p in shown if p not in plots]
    if mattered or rest:
        parts.append("<h2>What mattered</h2>")
        parts += _mattered(mattered)
        parts += [
            _figure(folder / p, CAPTIONS.get(p, "Architecture weights per edge per epoch."))
            for p in rest
        ]
    parts.append("</body></html>")
    write_text_atomic(path, "\n".join(parts) + "\n")


def _figure(path: Path, caption: str) -> str:
    return f"<figure>{image(path, path.name)}<figcaption>{e(caption)}</figcaption></figure>"


def _groups(grouped: list[dict[str, Any]], columns: list[str], fmt) -> list[str]:
    names = [k for k in grouped[0] if not k.endswith(("_std", "_ci", "_p"))]
    by = [k for k in names if k not in columns and k not in ("n", "failed")]
    body = []
    for g in grouped:
        cells = []
        for k in names:
            std = g.get(f"{k}_std")
            text = fmt(g[k], k) if k in columns else str(g[k])
            cells.append(f"{text} ± {fmt(std, k)}" if k in columns and std is not None else text)
        tds = "".join(
            f"<td{' class=t' if i < len(by) else ''}>{e(c)}</td>" for i, c in enumerate(cells)
        )
        body.append(f"<tr>{tds}</tr>")
    out = ["<h2>Groups (mean ± std over completed jobs)</h2>", _table(names, body, len(by))]
    tested = [c for c in columns if any(f"{c}_ci" in g for g in grouped)]
    if tested:
        has_p = any(f"{c}_p" in g for g in grouped for c in tested)
        rows = []
        for g in grouped:
            for c in tested:
                if g.get(c) is None:
                    continue
                lo, hi = g.get(f"{c}_ci") or (None, None)
                p = g.get(f"{c}_p")
                cells = [*(str(g[k]) for k in by), c, f"{fmt(g[c], c)} ± {fmt(g[f'{c}_std'], c)}"]
                cells.append(f"[{fmt(lo, c)}, {fmt(hi, c)}]" if lo is not None else "-")
                if has_p:
                    cells.append("-" if p is None else f"{p:.2g}")
                rows.append(
                    "<tr>"
                    + "".join(
                        f"<td{' class=t' if i <= len(by) else ''}>{e(x)}</td>"
                        for i, x in enumerate(cells)
                    )
                    + "</tr>"
                )
        head = [*by, "budget", "mean ± std", "95 % bootstrap interval"]
        out += [
            "<h3>The chosen architecture per budget (q: queries)</h3>",
            _table(
                head + (["p (Mann-Whitney U, vs baseline)"] if has_p else []), rows, len(by) + 1
            ),
        ]
    return out


def _mattered(mattered: dict[str, Any]) -> list[str]:
    """Per search, its decisions ranked by fANOVA importance (with MDI beside it)."""
    out = []
    for run, entry in mattered.items():
        found = (entry or {}).get("decisions")
        if not found:
            continue
        fanova, mdi = found.get("fanova", {}), found.get("mdi", {})
        ranked = sorted(fanova, key=lambda k: -fanova[k])[:10]
        body = [
            f"<tr><td class=t>{e(k)}</td><td>{fanova[k]:.3f}</td>"
            f"<td>{mdi.get(k, float('nan')):.3f}</td></tr>"
            for k in ranked
        ]
        out.append(f"<h3>{e(Path(run).name)}</h3>")
        out.append(_table(["decision", "fANOVA", "MDI"], body, 1))
    return out
