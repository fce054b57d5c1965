"""`nas <command> --help`: its own examples, actions and config groups, answered without torch;
and every example line it shows runs."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nascli.cli import COMMANDS
from nascli.cli.help import EXAMPLES, NOT_HYDRA
from nascli.core.paths import config_dir
from tests.conftest import run_nas


def _imported(command: str, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nascli", command, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {
        line.split("|")[-1].strip().split(".")[0]
        for line in out.stderr.splitlines()
        if line.startswith("import time:")
    }
    return out, names


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_shows_the_commands_own_examples_and_groups_without_torch(command):
    out, imported = _imported(command, "--help")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "torch" not in imported and "hydra" not in imported
    text = out.stdout
    assert text.startswith(f"nas {command}: ")
    shown = [line.strip() for line in text.splitlines() if line.strip().startswith("nas ")]
    assert shown and all(line.startswith(f"nas {command}") for line in shown), shown
    # Only the groups this command composes, each with its default first.
    defaults = yaml.safe_load((Path(config_dir()) / f"{command}.yaml").read_text())["defaults"]
    own = {next(iter(e)).split("@")[0] for e in defaults if isinstance(e, dict)}
    groups = text.split("config groups")[1].split("\n\n")[0] if "config groups" in text else ""
    listed = {
        line.split()[0]
        for line in groups.splitlines()[1:]
        if line.startswith("  ") and not line.startswith("   ")
    }
    assert listed <= own, listed - own
    if command == "search":
        assert {"space", "strategy", "estimator", "dataset"} <= listed
        assert "recipe" not in listed  # a train-only group


@pytest.mark.parametrize("command", ["bench", "hw"])
def test_an_action_less_command_starts_nothing_and_lists_its_actions(command, tmp_path):
    bare = run_nas(command, cwd=tmp_path)
    assert bare.returncode == 0 and f"nas {command} " in bare.stderr
    with_overrides = run_nas(command, "space=darts", cwd=tmp_path)
    assert with_overrides.returncode == 2 and "name an action" in with_overrides.stderr
    assert not (tmp_path / "outputs").exists()
    helped = run_nas(command, "--help", cwd=tmp_path)
    assert "actions:" in helped.stdout


def test_every_example_in_every_help_runs(tmp_path):
    """Runs each example line as shown, in order; `<search run>` and the like become the folder
    an earlier example wrote. Only the output folder is added to each line."""
    made: dict[str, str] = {}
    ran = 0
    for command in ("search", "train", "evaluate", "inspect", "report", "predict", "bench", "hw"):
        for k, (_, line) in enumerate(EXAMPLES[command]):
            for name, path in made.items():
                line = line.replace(f"<{name}>", path)
            assert "<" not in line, f"no folder for {line}"
            words = shlex.split(line)[1:]
            out_dir = tmp_path / f"{command}{k}"
            where = "hydra.sweep.dir" if "-m" in words else "hydra.run.dir"
            if not any(w.startswith("resume=") for w in words):  # a resume stays in its folder
                words.append(f"{where}={out_dir}")
            start = time.perf_counter()
            out = run_nas(*words, "format=json", cwd=tmp_path, timeout=900)
            assert out.returncode == 0, f"{line}\n{out.stderr[-3000:]}"
            print(f"{time.perf_counter() - start:6.1f} s  {line}")
            ran += 1
            if command == "search" and "-m" in words:
                made["sweep"] = str(out_dir)
            elif command == "search" and "search run" not in made:
                made["search run"] = str(out_dir)
            elif command == "train":
                made.setdefault("train run", str(out_dir))
            elif command == "hw" and words[1] == "profile":
                made["hw table"] = json.loads(out.stdout)["file"]
    assert ran == sum(len(v) for c, v in EXAMPLES.items() if c not in NOT_HYDRA)


@pytest.mark.parametrize(
    "argv, index",
    [
        (["profile"], 0),
        (["-m", "profile", "hw.samples=3"], 1),
        (["--cfg", "job"], None),
        (["space=darts", "-m"], None),
        (["--cfg", "job", "validate"], 2),
    ],
)
def test_the_action_word_is_found_past_flags_and_their_values(argv, index):
    from nascli.cli import _action_index

    assert _action_index(argv) == index
