"""Write and read a run directory. Every file is written atomically; history is append-only."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from nascli.core import faults
from nascli.core.files import UMASK, write_json_atomic, write_text_atomic
from nascli.core.records import HISTORY

__all__ = ["RunDir", "find_jobs", "write_json_atomic", "write_text_atomic"]

LOCK = "run.lock"
# A one-shot search's record of its supernet's epochs (its history.jsonl holds an architecture
# derived per epoch, scored by the supernet, not trained).
EPOCHS = "epochs.jsonl"
# A search space's decisions, [{name, options}], in the order of each trial's `choices`.
DECISIONS = "decisions.json"
# The best architecture's cells as graphs (nascli.ui.draw's format), written where the space is
# at hand, so that `nas report` draws them without rebuilding any space from a run's config.
CELLS = "cells.json"
BEST, SUMMARY, CONFIG, STRATEGY_STATE = (
    "best.json",
    "summary.json",
    "config.yaml",
    "strategy_state.json",
)

# How deep below a folder job folders are looked for (a sweep of sweeps, and a little more).
MAX_DEPTH = 4


def find_jobs(folder: Path, depth: int = 0) -> list[Path]:
    """Job folders (Hydra's `.hydra/` record) at or below `folder`: a sweep's numbered jobs in
    numeric order, runs by name."""
    if (folder / ".hydra").is_dir():
        return [folder]
    if depth >= MAX_DEPTH:
        return []
    children = sorted(
        (c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")),
        key=lambda c: (0, int(c.name), "") if c.name.isdigit() else (1, 0, c.name),
    )
    return [job for c in children for job in find_jobs(c, depth + 1)]


class RunDir:
    """A run directory. `write=False` (the ranks other than 0 of a data-parallel run) reads it
    and writes nothing."""

    def __init__(self, path: str | Path, write: bool = True) -> None:
        self.path = Path(path)
        self.writes = write
        if write:
            self.path.mkdir(parents=True, exist_ok=True)

    def append_history(self, record: dict[str, Any], sync: bool = True) -> None:
        """One JSON line per evaluated architecture, written (and with `sync`, fsynced) before
        the next trial starts."""
        self.append_line(HISTORY, record, sync)

    def append_line(self, name: str, record: dict[str, Any], sync: bool = True) -> None:
        """Append one JSON line to `name`; `sync`: fsync it too (a written line survives the
        process being killed either way; fsync makes it survive a power cut)."""
        if not self.writes:
            return
        line = json.dumps(record, sort_keys=False) + "\n"
        with open(self.path / name, "a", encoding="utf-8") as f:
            if name == HISTORY and faults.armed("history"):  # a torn line, then the power cut
                f.write(line[: len(line) // 2])
                f.flush()
                os.fsync(f.fileno())
                faults.die()
            f.write(line)
            f.flush()
            if sync:
                os.fsync(f.fileno())

    def read_history(self) -> list[dict[str, Any]]:
        """The trials recorded so far (see nascli.core.records.read_history)."""
        from nascli.core.records import read_history

        return read_history(self.path)

    @contextlib.contextmanager
    def lock(self):
        """Hold `run.lock` while writing the run, so that a second process that would write the
        same folder refuses instead, naming the holder (its PID and host are in the file). The
        kernel drops the lock when its process dies, so a killed run leaves nothing to clean."""
        if not self.writes:
            yield
            return
        import fcntl

        from nascli.core.errors import NascliError

        path = self.path / LOCK
        while True:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666 & ~UMASK)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                holder = _lock_holder(path)
                raise NascliError(
                    f"{self.path} is in use by process {holder['pid']} on {holder['host']} "
                    f"({LOCK}); wait for it to finish, or stop that process"
                ) from None
            try:  # the holder before us may have removed the file we locked: lock the new one
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)  # closing releases the lock

    def write_json(self, name: str, obj: Any, compact: bool = False) -> None:
        if self.writes:
            write_json_atomic(self.path / name, obj, compact=compact)

    def write_text(self, name: str, text: str) -> None:
        if self.writes:
            write_text_atomic(self.path / name, text)

    def write_cells(self, space: Any, arch: str) -> None:
        """cells.json: the pictures' graphs of `arch` (nothing for a space without pictures)."""
        try:
            graphs = space.graphs(arch)
        except Exception as exc:  # a picture is never worth the summary written after it
            logging.getLogger("nascli").warning("no cells.json: %s(%s)", type(exc).__name__, exc)
            return
        if graphs:
            self.write_json(CELLS, {"arch": arch, "graphs": graphs})


def read_cells(folder: Path) -> tuple[str, list[dict[str, Any]]] | None:
    """(arch, graphs) from a run's cells.json when it has the expected shape (strings in lists
    and maps only), else None: a file someone else wrote is data, and odd data is not drawn."""
    try:
        data = json.loads((Path(folder) / CELLS).read_text(encoding="utf-8"))
        arch, graphs = data["arch"], data["graphs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None

    def strings(values: Any) -> bool:
        return isinstance(values, list) and all(isinstance(v, str) for v in values)

    def graph_ok(g: Any) -> bool:
        if not isinstance(g, dict) or not isinstance(g.get("title"), str):
            return False
        nodes, edges, kinds = g.get("nodes"), g.get("edges"), g.get("kinds", {})
        return (
            strings(nodes)
            and 0 < len(nodes) <= 64
            and len(set(nodes)) == len(nodes)
            and isinstance(edges, list)
            and len(edges) <= 512
            and all(strings(e) and len(e) == 3 and {e[0], e[1]} <= set(nodes) for e in edges)
            and isinstance(kinds, dict)
            and set(kinds) <= set(nodes)
            and set(kinds.values()) <= {"input", "output", "node"}
        )

    ok = isinstance(arch, str) and isinstance(graphs, list) and 0 < len(graphs) <= 8
    ok = ok and all(graph_ok(g) for g in graphs)
    return (arch, graphs) if ok else None


def _lock_holder(path: Path) -> dict[str, Any]:
    """What the lock file says of its holder (question marks where it says nothing readable)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return {"pid": holder["pid"], "host": holder["host"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {"pid": "?", "host": "?"}


def resolve_arch(value: str, space: Any, space_name: str) -> str:
    """An `arch=` value as the space's canonical text: arch text, a published name, or a run
    directory (its best.json), which must come from the same space."""
    from nascli.core.errors import NascliError

    candidate = Path(value).expanduser()
    try:
        is_run_dir = candidate.is_dir()
    except OSError:  # arch text longer than a file name can be
        is_run_dir = False
    if is_run_dir:
        best_path = candidate / BEST
        if not best_path.is_file():
            raise NascliError(
                f"arch={value} is a folder without {BEST}; give a finished run directory or an arch string"
            )
        try:
            best = json.loads(best_path.read_text(encoding="utf-8"))
            arch, from_space = best["arch"], best["space"]
        except (ValueError, KeyError, TypeError) as exc:
            raise NascliError(
                f"arch={value}: {best_path} is not a valid best.json ({exc}); give an arch string instead"
            ) from exc
        if from_space != space_name:
            raise NascliError(
                f"arch={value} comes from space={from_space}, not space={space_name}; add space={from_space}"
            )
        value = arch
    return space.canonical(value)


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("nascli", "torch", "torchvision", "pytorch-lightning", "hydra-core", "omegaconf"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """The commit of the nascli checkout that ran, or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
