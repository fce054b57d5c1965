"""`nas <command> [overrides...]`: a tiny dispatcher in front of one Hydra app per command."""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys

COMMANDS = {
    "search": "search a space for the best architecture (sample-based or one-shot strategies)",
    "inspect": "build an architecture's network: params, FLOPs, latency, and a picture of its cell",
    "train": "retrain an architecture from scratch, test it, export it (model.pt, ONNX, model card)",
    "evaluate": "test a trained model: accuracy, params, FLOPs and latency on a hardware target",
    "report": "tabulate and plot run and sweep directories: nas report <dir>... [group_by=[strategy]]",
    "bench": "nas bench build: train every unique architecture of a space into a benchmark table",
    "hw": "nas hw profile | validate: a latency lookup table of a space's blocks on this device",
}
USAGE = "usage: nas <command> [hydra overrides...] [-m] [--help | --cfg job | --info]"


def _print_help() -> None:
    print(USAGE)
    print("\ncommands:")
    for name, line in COMMANDS.items():
        print(f"  {name:<10} {line}")
    print("\n`nas <command> --help` shows that command's config groups and options.")


def _command_from_completion_line() -> str | None:
    """Shell completion calls `nas -sc query=bash` with COMP_LINE='nas search ...'; find the command.

    COMP_LINE is rewritten without the command word so Hydra completes the overrides after it.
    """
    words = os.environ.get("COMP_LINE", "").split(" ")
    if len(words) > 1 and words[1] in COMMANDS:
        os.environ["COMP_LINE"] = " ".join([words[0], *words[2:]])
        return words[1]
    return None


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [
        line
        for line in lines
        if not line.startswith(("full_key:", "object_type", "Config search path"))
    ]
    return " ".join(lines) if lines else type(exc).__name__


def quote_arch(arg: str) -> str:
    """`arch=<text>` -> `arch="<text>"`, so arch strings (|, ~, brackets, commas) paste as they are.

    Hydra's override grammar would otherwise read them as lists or reject them. A value the user
    quoted already is left alone.
    """
    key, sep, value = arg.partition("=")
    if not sep or key.lstrip("+~") != "arch" or not value or value[0] in "'\"":
        return arg
    return f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'


def dirs_override(argv: list[str]) -> list[str]:
    """`nas report a b key=v` -> `key=v dirs=['a','b']`: folders are positional for report."""
    takes_value = {"--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-path"}
    takes_value |= {"-cp", "--config-dir", "-cd", "--experimental-rerun"}
    info_topics = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
    positional, rest = [], []
    for i, a in enumerate(argv):
        previous = argv[i - 1] if i else ""
        is_flag_value = previous in takes_value or (previous == "--info" and a in info_topics)
        if "=" in a or a.startswith("-") or is_flag_value:
            rest.append(a)
        else:
            positional.append(a)
    if not positional:
        return argv
    quoted = ",".join("'" + d.replace("\\", "\\\\").replace("'", "\\'") + "'" for d in positional)
    return [*rest, f"dirs=[{quoted}]"]


def _ddp_under_multirun(argv: list[str]) -> bool:
    """`-m ... trainer=ddp` (or a sweep over trainers that includes ddp)."""
    if not any(a in ("-m", "--multirun") for a in argv):
        return False
    for a in argv:
        key, _, value = a.partition("=")
        if key.lstrip("+~") == "trainer" and "ddp" in value:
            return True
    return False


def main() -> None:
    argv = sys.argv[1:]
    command = None
    if argv and argv[0] in COMMANDS:
        command = argv.pop(0)
    elif any(a in ("-sc", "--shell-completion") for a in argv) and any(
        a.startswith("query=") for a in argv
    ):
        command = _command_from_completion_line()
    elif os.environ.get("NASCLI_COMMAND") in COMMANDS and argv and not argv[0].startswith("-h"):
        # Lightning's DDP launcher re-executes argv, which no longer holds the command word.
        command = os.environ["NASCLI_COMMAND"]

    if command is None:
        if not argv or argv[0] in ("-h", "--help", "help"):
            _print_help()
            return
        print(
            f"nas: unknown command '{argv[0]}'; choose one of: {', '.join(COMMANDS)} (see nas --help)",
            file=sys.stderr,
        )
        sys.exit(2)

    os.environ["NASCLI_COMMAND"] = command
    if _ddp_under_multirun(argv):
        print(
            f"nas {command}: error: trainer=ddp under -m: Lightning's DDP relaunch would rerun the "
            "whole sweep; run one job per device instead (e.g. trainer=gpu with hydra/launcher=slurm)",
            file=sys.stderr,
        )
        sys.exit(2)
    if command == "report":
        argv = dirs_override(argv)
    if command in ("bench", "hw") and argv and "=" not in argv[0] and not argv[0].startswith("-"):
        argv = [f"action={argv[0]}", *argv[1:]]
    if command in ("train", "evaluate"):
        from nascli.results.inherit import inherit

        if command == "train":
            argv = inherit(argv, ("arch", "run", "resume"))
        else:
            argv = inherit(argv, ("run",), ("dataset",))
    sys.argv = [sys.argv[0], *(quote_arch(a) for a in argv)]
    if "NASCLI_TRACEBACK" not in os.environ:
        os.environ["NASCLI_TRACEBACK"] = "1" if os.environ.get("HYDRA_FULL_ERROR") == "1" else "0"
    # Let exceptions reach us raw, so that user errors print as one line (see _describe).
    os.environ["HYDRA_FULL_ERROR"] = "1"
    module = importlib.import_module(f"nascli.commands.{command}")
    try:
        module.main()
    except KeyboardInterrupt:
        print(f"nas {command}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        fail(exc)


def fail(exc: BaseException) -> None:
    """Print `exc` as one line and exit (2 for a user error, 1 otherwise), or re-raise it when
    the user asked for tracebacks with HYDRA_FULL_ERROR=1."""
    if os.environ.get("NASCLI_TRACEBACK") == "1":
        raise exc
    command = os.environ.get("NASCLI_COMMAND", "")
    print(f"nas {command}: error: {_describe(exc)}", file=sys.stderr)
    sys.exit(2 if _is_user_error(exc) else 1)


def exit_on_user_error(task):
    """Wrap a Hydra task function: a NascliError in a single run ends it with one line.

    Under -m the error is re-raised so the other jobs still run and Hydra names the failed job.
    """

    @functools.wraps(task)
    def wrapper(cfg):
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from nascli.errors import NascliError

        try:
            return task(cfg)
        except Exception as exc:
            hydra_cfg = HydraConfig.get()
            if hydra_cfg.mode == RunMode.MULTIRUN:
                _record_failed_job(hydra_cfg.runtime.output_dir, exc)
                raise
            # Our own errors, and config errors (a resolver's, wrapped by OmegaConf), are one line.
            if not isinstance(exc, NascliError) and not _is_user_error(exc):
                raise
            fail(exc)

    return wrapper


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
            "error": _describe(exc),
            "run_dir": str(run.path),
        },
    )


def _is_user_error(exc: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from nascli.errors import NascliError

    return isinstance(exc, NascliError | HydraException | OmegaConfBaseException | OSError)


def _describe(exc: BaseException) -> str:
    from nascli.errors import NascliError

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
    if not _is_user_error(exc):
        message = f"{type(exc).__name__}: {message} (set HYDRA_FULL_ERROR=1 for the traceback)"
    return message
