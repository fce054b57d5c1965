"""The argv fixes `nas` makes before Hydra parses the command line."""

from __future__ import annotations

from pathlib import Path


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


def ddp_under_multirun(argv: list[str]) -> bool:
    """`-m ... trainer=ddp` (or a sweep over trainers that includes ddp)."""
    if not any(a in ("-m", "--multirun") for a in argv):
        return False
    for a in argv:
        key, _, value = a.partition("=")
        if key.lstrip("+~") == "trainer" and "ddp" in value:
            return True
    return False


def resume_elsewhere(argv: list[str]) -> str | None:
    """The error for `resume=A hydra.run.dir=B` with B not A (a run split across two folders,
    neither resumable), found before Hydra creates B; None when the line is fine."""
    values = {}
    for a in argv:
        key, sep, value = a.partition("=")
        if sep and key.lstrip("+~") in ("resume", "hydra.run.dir"):
            values[key.lstrip("+~")] = value.strip("'\"")
    if len(values) < 2 or values["resume"] in ("", "null"):
        return None
    resume, run_dir = (Path(values[k]).expanduser().resolve() for k in ("resume", "hydra.run.dir"))
    if resume == run_dir:
        return None
    return (
        f"resume={values['resume']} continues in its own folder; drop "
        f"hydra.run.dir={values['hydra.run.dir']}"
    )
