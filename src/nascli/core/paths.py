"""Where nascli finds its configs."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> str:
    """Absolute path of the `conf/` tree: inside the package for a wheel, at the repo root for a checkout.

    Hydra turns a relative config_path into `pkg://...` under a console script, so it always gets
    an absolute one.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent.parent / "conf"):
        if (candidate / "search.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(f"nascli's conf/ directory is missing next to {here}; reinstall nascli")
