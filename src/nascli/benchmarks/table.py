"""A benchmark table: one SQLite file, one row per unique architecture, written as each finishes.

SQLite because it is one portable file that the standard library reads, survives a kill at any
moment (each row is its own transaction), and lets a resumed build skip what is done.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from nascli.core.errors import NascliError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS archs (
    key TEXT PRIMARY KEY,      -- the space's isomorphism key: isomorphic archs share one row
    arch TEXT NOT NULL,        -- the architecture that was trained (canonical text)
    status TEXT NOT NULL,      -- ok | failed
    error TEXT,
    params INTEGER,
    flops INTEGER,
    latency_ms REAL,
    train_seconds REAL,        -- wall-clock seconds of training (all epochs), what a query charges
    curves TEXT                -- JSON: {"val_acc": [per epoch], "test_acc": [...], "val_loss": [...], "train_loss": [...]}
);
"""

COLUMNS = ("key", "arch", "status", "error", "params", "flops", "latency_ms", "train_seconds")


class BenchTable:
    def __init__(self, path: str | Path, create: bool = False) -> None:
        self.path = Path(path).expanduser()
        if not create and not self.path.is_file():
            raise NascliError(
                f"bench.file={path} does not exist; build one with `nas bench build` or give the shipped table's path"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path))
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise NascliError(f"bench.file={path} is not a nascli benchmark table ({exc})") from exc

    # -- metadata: what the table was built with ------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def set_meta(self, meta: dict[str, Any]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, json.dumps(v, sort_keys=True)) for k, v in meta.items()],
            )

    # -- rows ------------------------------------------------------------------------------------
    def keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM archs")}

    def put(self, row: dict[str, Any]) -> None:
        values = [row.get(c) for c in COLUMNS] + [json.dumps(row.get("curves") or {})]
        with self.db:  # one transaction per row: a kill loses at most the row being written
            self.db.execute(
                f"INSERT OR REPLACE INTO archs ({', '.join(COLUMNS)}, curves) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})",
                values,
            )

    def rows(self) -> dict[str, dict[str, Any]]:
        out = {}
        for values in self.db.execute(f"SELECT {', '.join(COLUMNS)}, curves FROM archs"):
            row = dict(zip(COLUMNS, values[:-1], strict=True))
            row["curves"] = json.loads(values[-1] or "{}")
            out[row["key"]] = row
        return out

    def close(self) -> None:
        self.db.close()
