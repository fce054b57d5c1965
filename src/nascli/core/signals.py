"""Stopping a long command cleanly on Ctrl-C, a cluster's pre-emption or SLURM's warning."""

from __future__ import annotations

import contextlib
import signal
import threading


class StopRequested(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (a cluster's pre-emption) arrived: finish writing, then stop."""


# Ctrl-C, a cluster's pre-emption (SIGTERM), and SLURM's warning before the time limit (SIGUSR2,
# sent hydra.launcher.signal_delay_s ahead with hydra/launcher=slurm).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR2") if hasattr(signal, name)
)


@contextlib.contextmanager
def stop_on_signals():
    """While running, SIGINT, SIGTERM and SIGUSR2 raise StopRequested. Lightning turns an
    interrupt inside `fit` into SystemExit(1), so callers also check `state["signal"]` to tell
    the two apart."""
    state = {"signal": None}

    def handler(signum, frame):
        state["signal"] = signum
        raise StopRequested(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
