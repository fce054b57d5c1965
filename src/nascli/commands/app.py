"""What every command's Hydra app shares: user errors as one line, failed sweep jobs recorded."""

from __future__ import annotations

import functools
import os
import re
import sys


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [
        line
        for line in lines
        if not line.startswith(("full_key:", "object_type", "Config search path"))
    ]
    return " ".join(lines) if lines else type(exc).__name__


def fail(exc: BaseException) -> None:
    """Print `exc` as one line and exit (2 for a user error, 1 otherwise), or re-raise it when
    the user asked for tracebacks with HYDRA_FULL_ERROR=1."""
    if os.environ.get("NASCLI_TRACEBACK") == "1":
        raise exc
    command = os.environ.get("NASCLI_COMMAND", "")
    print(f"nas {command}: error: {describe(exc)}", file=sys.stderr)
    sys.exit(2 if is_user_error(exc) else 1)


def exit_on_user_error(task):
    """Wrap a Hydra task function: a NascliError in a single run ends it with one line.

    Under -m the error is re-raised so the other jobs still run and Hydra names the failed job.
    """

    @functools.wraps(task)
    def wrapper(cfg):
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from nascli.core.errors import NascliError

        try:
            return task(cfg)
        except Exception as exc:
            hydra_cfg = HydraConfig.get()
            if hydra_cfg.mode == RunMode.MULTIRUN:
                _record_failed_job(hydra_cfg.runtime.output_dir, exc)
                raise
            # Our own errors, and config errors (a resolver's, wrapped by OmegaConf), are one line.
            if not isinstance(exc, NascliError) and not is_user_error(exc):
                raise
            fail(exc)

    return wrapper


def refused_before_work(check, cfg):
    """Run `check(cfg)`; when it refuses a resumed run, take back Hydra's record of the call
    (`.hydra/resume-<time>/`, written before the task runs), so that a refused resume leaves the
    run directory exactly as it was."""
    try:
        return check(cfg)
    except Exception:
        from pathlib import Path

        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
        subdir = str(hydra_cfg.output_subdir or "")
        if cfg.get("resume") and subdir.startswith(".hydra/resume-"):
            import shutil

            shutil.rmtree(Path(hydra_cfg.runtime.output_dir) / subdir, ignore_errors=True)
        raise


# The config groups a command's first line names, in this order, where the command has them.
ANNOUNCED = ("space", "strategy", "dataset", "estimator", "hardware")


def announce(cfg, plan: str | None = None, omit: tuple[str, ...] = ()) -> None:
    """The run's first line on stderr, printed as soon as its config is checked and before torch
    loads: what was composed (less the groups in `omit`), the plan (trials, epochs), and where
    the run goes."""
    from hydra.core.hydra_config import HydraConfig

    from nascli.lit.distributed import is_rank_zero

    if not is_rank_zero():  # a data-parallel rank relaunched by Lightning: rank 0 speaks
        return
    hydra_cfg = HydraConfig.get()
    choices = hydra_cfg.runtime.choices
    shown = [g for g in ANNOUNCED if g in cfg and choices.get(g) and g not in omit]
    picked = " ".join(f"{g}={choices[g]}" for g in shown)
    where = hydra_cfg.runtime.output_dir
    command = os.environ.get("NASCLI_COMMAND", hydra_cfg.job.name)
    if cfg.get("resume"):
        text = f"resuming {where}"  # the plan is the saved run's, read later
    else:
        text = f"running {picked}" + (f", {plan}" if plan else "") + f"; run dir {where}"
    print(f"nas {command}: {text}", file=sys.stderr, flush=True)


def say(text: str) -> None:
    """One line of the run's own on stderr, `nas <command>: <text>` (the log file has it too)."""
    import logging

    from nascli.lit.distributed import is_rank_zero

    logging.getLogger("nascli").info(text)
    if not is_rank_zero():
        return
    print(f"nas {os.environ.get('NASCLI_COMMAND', '')}: {text}", file=sys.stderr, flush=True)


def _record_failed_job(output_dir: str, exc: BaseException) -> None:
    """A sweep job that failed leaves summary.json with status failed and the one-line error (unless
    the job wrote its own), so `nas report` can show why."""
    from pathlib import Path

    from nascli.results.run_dir import SUMMARY, RunDir

    run = RunDir(output_dir)
    if (Path(output_dir) / SUMMARY).exists():
        return
    run.write_json(
        SUMMARY,
        {
            "command": os.environ.get("NASCLI_COMMAND", ""),
            "status": "failed",
            "error": describe(exc),
            "run_dir": str(run.path),
        },
    )


def is_user_error(exc: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from nascli.core.errors import NascliError

    return isinstance(exc, NascliError | HydraException | OmegaConfBaseException | OSError)


def describe(exc: BaseException) -> str:
    from nascli.core.errors import NascliError

    # Our own message, when Hydra or OmegaConf wrapped it (a resolver or constructor raised it).
    inner = exc.__cause__ or exc.__context__
    if not isinstance(exc, NascliError) and isinstance(inner, NascliError):
        exc = inner

    if isinstance(exc, OSError) and exc.filename:
        return (
            f"cannot write '{exc.filename}' ({exc.strerror}); choose a writable folder with "
            "hydra.run.dir=... (or hydra.sweep.dir=... under -m)"
        )
    # OmegaConf drops the cause of a resolver's error and prefixes its message; keep only ours.
    message = re.sub(r"^NascliError raised while resolving interpolation: ", "", _one_line(exc))
    cause = exc.__cause__
    if cause is not None and not isinstance(exc, NascliError) and _one_line(cause) not in message:
        message = f"{message} ({_one_line(cause)})"
    if not is_user_error(exc):
        message = f"{type(exc).__name__}: {message} (set HYDRA_FULL_ERROR=1 for the traceback)"
    return message
