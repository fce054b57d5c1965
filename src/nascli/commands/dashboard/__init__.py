"""`nas dashboard <run dir | sweep dir | storage URL> [host=...] [port=...]`: optuna-dashboard on
the Optuna storage a search mirrored its trials into (`search.storage`).

Not a Hydra app: it writes no run directory and reads a run's `config.yaml` as data only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from nascli.core.errors import NascliError
from nascli.core.paths import config_dir


def _defaults() -> dict[str, Any]:
    """The options and their defaults (conf/dashboard.yaml, less its empty defaults list)."""
    options = dict(yaml.safe_load((Path(config_dir()) / "dashboard.yaml").read_text()) or {})
    options.pop("defaults", None)
    return options


def storage_of(target: str) -> str:
    """The storage URL `target` names: itself, or the one its run or sweep directories used."""
    if "://" in target:
        return target
    from nascli.results.run_dir import CONFIG, find_jobs

    folder = Path(target).expanduser()
    if not folder.is_dir():
        raise NascliError(
            f"{target} is neither a run or sweep directory nor a storage URL "
            "(e.g. nas dashboard sqlite:///study.db)"
        )
    urls: dict[str, None] = {}
    for job in find_jobs(folder):
        try:
            config = yaml.safe_load((job / CONFIG).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        url = ((config.get("search") or {}) if isinstance(config, dict) else {}).get("storage")
        if url:
            urls[str(url)] = None
    if not urls:
        raise NascliError(
            f"{target} holds no search run with search.storage; run nas search "
            "search.storage=sqlite:///study.db, or name the storage URL"
        )
    if len(urls) > 1:
        raise NascliError(
            f"{target}'s runs mirrored into {len(urls)} storages ({', '.join(urls)}); name one"
        )
    return next(iter(urls))


def parse(argv: list[str]) -> dict[str, Any]:
    options = _defaults()
    targets = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in options and "://" not in arg.split("=", 1)[0]:
            options[key] = value
        elif not sep or "://" in arg:
            targets.append(arg)
        else:
            raise NascliError(f"{key}= is not a dashboard option; choose from {', '.join(options)}")
    if len(targets) != 1:
        raise NascliError("name one run or sweep directory, or a storage URL: nas dashboard <dir>")
    try:
        options["port"] = int(options["port"])
    except ValueError:
        raise NascliError(f"port={options['port']} must be a number, e.g. port=8080") from None
    options["target"] = targets[0]
    return options


def main() -> None:
    try:
        options = parse(sys.argv[1:])
        url = storage_of(options["target"])
        try:
            import optuna_dashboard
        except ImportError:
            raise NascliError(
                "nas dashboard needs optuna-dashboard: pip install 'nascli[dashboard]'"
            ) from None
    except NascliError as exc:
        print(f"nas dashboard: error: {exc}", file=sys.stderr)
        sys.exit(2)
    host, port = options["host"], options["port"]
    print(f"nas dashboard: {url} at http://{host}:{port}/ (Ctrl-C stops it)", file=sys.stderr)
    optuna_dashboard.run_server(url, host=host, port=port)
