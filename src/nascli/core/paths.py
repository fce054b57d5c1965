"""Where nascli finds its configs."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> str:
    """Absolute path of the `conf/` tree: inside the package for a wheel, at the repo root for a checkout.

    Hydra turns a relative config_path into `pkg://...` under a console script, so it always gets
    an absolute one.
    """
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "conf", package.parent.parent / "conf"):
        if (candidate / "search.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(
        f"nascli's conf/ directory is missing next to {package}; reinstall nascli"
    )
