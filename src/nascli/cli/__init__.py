"""`nas <command> [overrides...]`: a tiny dispatcher in front of one Hydra app per command."""

from __future__ import annotations

import faulthandler
import importlib
import os
import sys

from nascli.cli.argv import ddp_under_multirun, dirs_override, quote_arch, resume_elsewhere
from nascli.commands.app import fail

COMMANDS = {
    "search": "search a space for the best architecture (sample-based or one-shot strategies)",
    "inspect": "build an architecture's network: params, FLOPs, latency, and a picture of its cell",
    "train": "retrain an architecture from scratch, test it, export it (model.pt, ONNX, model card)",
    "evaluate": "test a trained model: accuracy, params, FLOPs and latency on a hardware target",
    "report": "tabulate and plot run and sweep directories: nas report <dir>... [group_by=[strategy]]",
    "predict": "rank a benchmark table with learned performance predictors: Kendall tau per N",
    "bench": "build a benchmark table: train every unique architecture of a space (nas bench build)",
    "hw": "a latency lookup table of a space's blocks on this device (nas hw profile | validate)",
    "dashboard": "optuna-dashboard on the trials a search mirrored (search.storage): nas dashboard <dir>",
}
USAGE = "usage: nas <command> [hydra overrides...] [-m] [--help | --cfg job | --info]"


def _print_help() -> None:
    print(USAGE)
    print("\ncommands:")
    for name, line in COMMANDS.items():
        print(f"  {name:<10} {line}")
    print("\n`nas <command> --help` shows that command's examples, config groups and options.")


def _command_from_completion_line() -> str | None:
    """Shell completion calls `nas -sc query=bash` with COMP_LINE='nas search ...'; find the command.

    COMP_LINE is rewritten without the command word so Hydra completes the overrides after it.
    """
    words = os.environ.get("COMP_LINE", "").split(" ")
    if len(words) > 1 and words[1] in COMMANDS:
        os.environ["COMP_LINE"] = " ".join([words[0], *words[2:]])
        return words[1]
    return None


# Hydra's flags that take the next word as their value.
VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp",
               "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun"}  # fmt: skip


def _action_index(argv: list[str]) -> int | None:
    """Where the action word of `nas bench|hw` is: the first word that is neither a flag, a flag's
    value nor an override (`nas hw -m profile ...` has one too)."""
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
        elif word in VALUE_FLAGS:
            skip = True
        elif not word.startswith("-") and "=" not in word:
            return i
    return None


def _action_given(argv: list[str]) -> bool:
    """Whether `nas bench|hw` was told what to do (an action word or action=), or only asked to
    show something. Without one nothing starts (a build can take hours)."""
    shows = ("--cfg", "-c", "--info", "--hydra-help", "-sc", "--shell-completion")
    return (
        any(a in shows for a in argv)
        or _action_index(argv) is not None
        or any(a.startswith("action=") for a in argv)
    )


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
    if any(a in ("-h", "--help") for a in argv):
        from nascli.cli.help import text

        print(text(command, COMMANDS[command]))
        return
    if command in ("bench", "hw") and not _action_given(argv):
        from nascli.cli.help import ACTIONS

        actions = " | ".join(ACTIONS[command])
        print(
            f"nas {command}: name an action: nas {command} {actions} [overrides] "
            f"(nas {command} --help for examples)",
            file=sys.stderr,
        )
        sys.exit(0 if not argv else 2)
    if ddp_under_multirun(argv):
        print(
            f"nas {command}: error: trainer=ddp under -m: Lightning's DDP relaunch would rerun the "
            "whole sweep; run one job per device instead (e.g. trainer=gpu with hydra/launcher=slurm)",
            file=sys.stderr,
        )
        sys.exit(2)
    if command in ("search", "train") and (error := resume_elsewhere(argv)):
        print(f"nas {command}: error: {error}", file=sys.stderr)
        sys.exit(2)
    if command == "report":
        argv = dirs_override(argv)
    if command in ("bench", "hw") and (i := _action_index(argv)) is not None:
        argv = [*argv[:i], f"action={argv[i]}", *argv[i + 1 :]]
    if command in ("train", "evaluate", "inspect"):
        from nascli.cli.inherit import inherit
        from nascli.core.errors import NascliError

        try:
            if command == "train":
                argv = inherit(argv, ("arch", "run", "resume"))
            elif command == "inspect":  # arch=<run dir>: its space and dataset, as train does
                argv = inherit(argv, ("arch",))
            else:
                argv = inherit(argv, ("run",), ("dataset",))
        except NascliError as exc:
            print(f"nas {command}: error: {exc}", file=sys.stderr)
            sys.exit(2)
    sys.argv = [sys.argv[0], *(quote_arch(a) for a in argv)]
    if "NASCLI_TRACEBACK" not in os.environ:
        os.environ["NASCLI_TRACEBACK"] = "1" if os.environ.get("HYDRA_FULL_ERROR") == "1" else "0"
    # Let exceptions reach us raw, so that user errors print as one line (see _describe).
    os.environ["HYDRA_FULL_ERROR"] = "1"
    # A native crash (a segfault, an abort from the C library) prints every thread's Python
    # stack on stderr before the process dies, so that it says where it happened.
    faulthandler.enable()
    module = importlib.import_module(f"nascli.commands.{command}")
    try:
        module.main()
    except KeyboardInterrupt:
        print(f"nas {command}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        fail(exc)
