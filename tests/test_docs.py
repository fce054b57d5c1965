"""Every `nas ...` line shown in the README and docs/ composes: its command, config groups,
options and keys exist (placeholders such as <timestamp> stand for run directories)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser

from nascli.cli import COMMANDS
from nascli.cli.argv import dirs_override, quote_arch
from nascli.cli.help import NOT_HYDRA
from nascli.core.paths import config_dir

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)


def command_lines() -> list[tuple[str, str]]:
    """(page, line) for each `nas <command> ...` line in a fenced block."""
    out = []
    for page in PAGES:
        for block in FENCE.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                # (`nas search: running ...` is a run's output, not a command line)
                output = re.match(r"nas \w+: ", line)
                if line.startswith("nas ") and not line.startswith("nas <command>") and not output:
                    out.append((page.name, line))
    return out


def overrides_of(line: str) -> tuple[str, list[str]]:
    """The command and the overrides Hydra would compose for `line` (a sweep: its first job)."""
    # A placeholder stands for a run directory; the shell expands ~ after `=`.
    line = re.sub(r"<[a-z ]+>", "2026-01-01_00-00-00", line).replace("=~/", "=/home/user/")
    words = shlex.split(line, comments=True)
    words = words[: words.index("|")] if "|" in words else words
    command, args = words[1], words[2:]
    if command == "report":
        args = dirs_override(args)
    if command in ("bench", "hw") and args and "=" not in args[0] and not args[0].startswith("-"):
        args = [f"action={args[0]}", *args[1:]]
    args = [quote_arch(a) for a in args if not a.startswith("-") and a not in ("job", "all")]
    parser = OverridesParser.create()
    first = []
    for arg in args:
        (override,) = parser.parse_overrides([arg])
        if override.is_sweep_override():
            value = next(iter(override.sweep_string_iterator()))
            arg = f"{override.get_key_element()}={value}"
        first.append(arg)
    return command, first


LINES = command_lines()


def test_the_docs_show_commands():
    assert len(LINES) >= 30
    assert {line.split()[1] for _, line in LINES} >= {"search", "train", "report", "inspect"}


@pytest.mark.parametrize("page,line", LINES, ids=[f"{p}:{i}" for i, (p, _) in enumerate(LINES)])
def test_every_command_line_in_the_docs_composes(page, line):
    words = shlex.split(re.sub(r"<[a-z ]+>", "somewhere", line), comments=True)
    if words[1] in NOT_HYDRA:  # its own options, read by its own parser
        import importlib

        importlib.import_module(f"nascli.commands.{words[1]}").parse(words[2:])
        return
    command, overrides = overrides_of(line)
    assert command in COMMANDS, f"{page}: unknown command in {line}"
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir(), version_base="1.3"):
        compose(config_name=command, overrides=overrides)
