"""Numbers people can read and tables that fit the terminal.

`fit` makes a wide table (the report's) fit the console: it loses the columns the caller names,
in that order, then its `squeeze` column is cut short, then rich wraps what is left.
`print_fitted` says in one line what was dropped and where every column is kept.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

# A pipe or a file has no width; rows stay whole there unless COLUMNS says otherwise.
UNBOUNDED = 240
# A squeezed column (an architecture's text) keeps this many characters before others go.
ROOMY = 24


def number(value: Any, digits: int = 4) -> str:
    """A number as a person reads it: integers with thousands separators, floats in fixed point
    with `digits` decimals in the usual range and with three significant figures outside it
    (`6.23e+10`, `0.00012`), so a proxy score never prints as 62296918967.5198 nor a tiny
    figure as 0.0000. numpy scalars count as the numbers they are."""
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return "-" if value is None else str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    if not math.isfinite(value):
        return "-" if math.isnan(value) else str(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 10 ** -(digits - 1)):
        return f"{value:.3g}"
    return f"{value:.{digits}f}" if magnitude < 1000 else f"{value:.1f}"


def console(stderr: bool = False) -> Console:
    """A console as wide as the terminal (or COLUMNS); a pipe or a file gets UNBOUNDED."""
    given = os.environ.get("COLUMNS", "")
    if given.isdigit():  # stated, so kept even where rich would take a dumb terminal's 80
        return Console(stderr=stderr, width=int(given))
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=UNBOUNDED)


def _wanted(out: Console, table: Table) -> int:
    return Measurement.get(out, out.options.update_width(10**6), table).maximum


def fit(out: Console, table: Table, drop: Sequence[str] = (), squeeze: str = "") -> list[str]:
    """Removes columns of `table`, headers named in `drop` and in that order, until it fits
    `out`'s width, then narrows the `squeeze` column (its cells cut short with an ellipsis);
    returns the headers removed. Columns not named are never removed: rich wraps their cells
    if the table is still too wide."""

    def longest(header: str) -> int:
        cells = [c.cells for c in table.columns if str(c.header) == header]
        return max((len(str(c)) for c in cells[0]), default=0) if cells else 0

    # Columns go while the table would not fit even with the squeezed column at ROOMY.
    slack = max(0, longest(squeeze) - ROOMY) if squeeze else 0
    dropped: list[str] = []
    for header in drop:
        if _wanted(out, table) - slack <= out.width:
            break
        for i, column in enumerate(table.columns):
            if str(column.header) == header:
                table.columns.pop(i)
                dropped.append(header)
                break
    excess = _wanted(out, table) - out.width
    narrowed = [c for c in table.columns if squeeze and str(c.header) == squeeze]
    if excess > 0 and narrowed:
        narrowed[0].no_wrap, narrowed[0].overflow = True, "ellipsis"
        narrowed[0].max_width = max(12, longest(squeeze) - excess)
    return dropped


def print_fitted(out: Console, table: Table, drop: Sequence[str] = (), where: str = "") -> None:
    """Prints `table` fitted to `out` (its `arch` column narrowed last) and, under it, which
    columns did not fit and `where` they are all kept."""
    dropped = fit(out, table, drop, squeeze="arch")
    out.print(table)
    if dropped:
        kept = f"; {where} has them all" if where else ""
        out.print(
            f"left out to fit {out.width} columns: {', '.join(dropped)}{kept}",
            markup=False,
            highlight=False,
        )
