from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Two test workers share two cores: one torch thread each, here and in every `nas` they start
# (small CNNs use a second thread poorly, and oversubscribed threads thrash).
os.environ.setdefault("OMP_NUM_THREADS", "1")

NAS = str(Path(sys.executable).parent / "nas")
# Small settings that keep a CLI search to a few seconds.
TINY = ["search.trials=2", "estimator.epochs=1", "logger=none"]


# A run's own status line on stderr (anything of `nas <command>: ` but a refusal).
STATUS = re.compile(r"^nas \w+: (?!error: )")


def run_nas(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run the installed `nas` console script the way a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    full_env.pop("NASCLI_TRACEBACK", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [NAS, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(out: subprocess.CompletedProcess, named: str) -> None:
    """Bad input: exit status 2 and one error line on stderr that names `named` (the key or path),
    after the run's own status lines (`nas search: running ...`) where it got that far."""
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if not STATUS.match(line)]
    assert len(lines) == 1 and named in lines[0], out.stderr


def pytest_terminal_summary(terminalreporter) -> None:
    """The CPU the suite ran on, at the end of the output (where a log's tail keeps it): native
    kernels (oneDNN, ATen's vectorised loops) take other code paths on other instruction sets, so
    a failure that only one machine shows starts here."""
    from importlib.metadata import version

    info = {}
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    flags = info.get("flags", "").split()
    isa = [f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma")]
    terminalreporter.write_line(
        f"cpu: {info.get('model name', 'unknown')}, {os.cpu_count()} CPUs, "
        f"{' '.join(isa) or 'no avx2'}; torch {version('torch')}"
    )


@pytest.fixture
def nas():
    return run_nas
