"""The export bundle of a trained model, and `nascli.load` to get the network back.

A bundle is a folder with:
- `model.pt`: the network's state dict (tensors only; loads with `weights_only=True`);
- `arch.json`: what rebuilds the network: the space's constructor arguments, the arch, the input
  shape, the class count, and the normalisation the inputs need;
- `model.onnx`: the network in ONNX, checked against PyTorch with onnxruntime;
- `MODEL_CARD.md`: what the model is, how it was trained, and how well it does.

An ensemble's bundle (`nas train ... ensemble.top_k=k`) holds one member bundle per folder under
`members/`, `ensemble.json` naming them (paths inside the bundle), and `model.onnx` and
`MODEL_CARD.md` of the averaged model (`nascli.nn.ensemble.Ensemble`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nascli.core.errors import NascliError

MODEL, ARCH, ONNX, CARD = "model.pt", "arch.json", "model.onnx", "MODEL_CARD.md"
VOCABULARY = "vocab.txt"
ENSEMBLE = "ensemble.json"

log = logging.getLogger("nascli.results.export")


def _build_space(spec: dict[str, Any], trust_builder: bool = False, where: str = "") -> Any:
    """The space object from arch.json's `space_config` (a `_target_` and its keyword arguments).

    Only a nascli space class is built, judged by what the target resolves to (a function that
    loads or executes is refused however it is spelt). A space that runs code to build (a custom
    space's builder file) is refused unless `trust_builder`: the file is its author's code.
    """
    from nascli.core.space import Space
    from nascli.core.targets import check_target

    spec = dict(spec)
    target = spec.pop("_target_", "")
    hint = "only nascli.spaces.* can be loaded (is this a nascli bundle?)"
    if not str(target).startswith("nascli.spaces."):
        raise NascliError(f"arch.json names space {target!r}; {hint}")
    cls = check_target(target, "arch.json space_config")
    if not issubclass(cls, Space):
        raise NascliError(f"arch.json names space {target!r}, which is no Space; {hint}")
    if cls.runs_code and not trust_builder:
        raise NascliError(
            f"{where}arch.json rebuilds a custom space by running {spec.get('builder')!r}, Python "
            "code from whoever made the bundle; if you trust it, say so: nascli.load(path, "
            "trust_builder=True) or nas evaluate trust_builder=true"
        )
    return cls(**spec)


def load(path: str | Path, map_location: str = "cpu", trust_builder: bool = False) -> Any:
    """The trained network of a `nas train` run directory, in eval mode, as a plain nn.Module.

    An ensemble's run directory gives one module that averages its members (`Ensemble`; its
    `arch` is the list of the members' architectures). A bundle of a custom space runs its
    builder file to rebuild the network: only with `trust_builder=True`.

    Inputs are images of `net.input_shape` (C, H, W), scaled to [0, 1] and normalised with
    `net.normalize["mean"]` and `net.normalize["std"]` per channel, as in training.
    """
    folder = Path(path).expanduser()
    if (folder / ENSEMBLE).is_file():
        return _load_ensemble(folder, map_location, trust_builder)
    return _load_one(folder, map_location, trust_builder)


def _load_one(folder: Path, map_location: str, trust_builder: bool) -> Any:
    import torch

    arch_file, model_file = folder / ARCH, folder / MODEL
    for f in (arch_file, model_file):
        if not f.is_file():
            raise NascliError(
                f"{folder} has no {f.name}; give the run directory of a finished `nas train`"
            )
    meta = json.loads(arch_file.read_text(encoding="utf-8"))
    space = _build_space(meta["space_config"], trust_builder, f"{folder}: ")
    net = space.build(meta["arch"], meta["input_shape"], meta["num_classes"])
    state = torch.load(model_file, map_location=map_location, weights_only=True)
    net.load_state_dict(state)
    net.eval()
    net.arch, net.input_shape = meta["arch"], tuple(meta["input_shape"])
    net.normalize = meta.get("normalize")
    return net


def member_folders(folder: Path) -> list[Path]:
    """The member bundles `ensemble.json` names, each checked to lie inside `folder`."""
    where = folder / ENSEMBLE
    try:
        names = json.loads(where.read_text(encoding="utf-8"))["members"]
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError("its members must be a non-empty list of folder names")
    except (ValueError, KeyError, TypeError) as exc:
        raise NascliError(f"{where} is not an ensemble manifest ({exc})") from None
    root = folder.resolve()
    folders = []
    for name in names:
        member = (folder / name).resolve()
        if member == root or not member.is_relative_to(root):
            raise NascliError(
                f"{where} names member {name!r}, which is not a folder inside the bundle; "
                "an ensemble's members live in its members/ folder"
            )
        if (member / ENSEMBLE).exists():
            raise NascliError(f"{where} names member {name!r}, which is itself an ensemble")
        folders.append(member)
    return folders


def _load_ensemble(folder: Path, map_location: str, trust_builder: bool) -> Any:
    from nascli.nn.ensemble import Ensemble

    nets = [_load_one(f, map_location, trust_builder) for f in member_folders(folder)]
    for net in nets[1:]:
        if net.input_shape != nets[0].input_shape or net.normalize != nets[0].normalize:
            raise NascliError(
                f"{folder / ENSEMBLE}: its members take different inputs "
                f"({nets[0].input_shape} vs {net.input_shape}, or another normalisation)"
            )
    ensemble = Ensemble(nets).eval()
    ensemble.arch = [net.arch for net in nets]
    ensemble.input_shape, ensemble.normalize = nets[0].input_shape, nets[0].normalize
    return ensemble


def write_model(
    folder: Path,
    net: Any,
    space_config: dict[str, Any],
    space_name: str,
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    normalize: dict[str, list[float]] | None,
) -> None:
    import torch

    from nascli.results.run_dir import write_json_atomic

    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    tmp = folder / f".{MODEL}.tmp"
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(folder / MODEL)
    write_json_atomic(
        folder / ARCH,
        {
            "space": space_name,
            "arch": arch,
            "input_shape": list(input_shape),
            "num_classes": num_classes,
            "normalize": normalize,
            "space_config": space_config,
        },
    )


def export_onnx(
    folder: Path, net: Any, sample: Any, tolerance: float, sequence: bool = False
) -> dict[str, Any]:
    """Write model.onnx (batch size free) and compare onnxruntime's logits with PyTorch's on `sample`.

    With `sequence`, `sample` is (batch, steps, features) and the number of steps is free too, up
    to the sample's (the longest the network was built for); the check then also runs a sequence
    of half the length. Returns {"max_abs_diff", "tolerance", "passed", "input", "dynamic"}; a
    missing exporter or runtime is reported, not raised, so a finished training is never lost to
    its export.
    """
    import numpy as np
    import torch

    try:
        import onnxruntime as ort
    except ImportError as exc:
        return {"passed": False, "error": f"onnxruntime is not installed ({exc})"}
    net = net.eval()
    path = folder / ONNX
    name = "sequences" if sequence else "images"
    dims = {0: torch.export.Dim("batch")}
    samples = [sample]
    if sequence:
        steps = int(sample.shape[1])
        dims[1] = torch.export.Dim("steps", min=1, max=steps)
        samples.append(sample[:, : max(1, steps // 2)])
    try:
        # The exporter prints progress on stdout; keep stdout for the command's own output.
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            torch.onnx.export(
                net,
                (sample,),
                str(path),
                dynamo=True,
                external_data=False,
                input_names=[name],
                output_names=["logits"],
                dynamic_shapes=(dims,),
            )
        log.info("onnx export: %s", printed.getvalue().strip().replace("\n", " | "))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        diff = 0.0
        for x in samples:
            got = session.run(None, {name: x.numpy()})[0]
            with torch.inference_mode():
                want = net(x).numpy()
            diff = max(diff, float(np.abs(got - want).max()))
    except Exception as exc:  # the exporter's failures are many and version-specific
        path.unlink(missing_ok=True)
        return {"passed": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    dynamic = ["batch", "steps"] if sequence else ["batch"]
    return {
        "max_abs_diff": diff,
        "tolerance": tolerance,
        "passed": diff <= tolerance,
        "input": name,
        "dynamic": dynamic,
    }


def export_onnx_language_model(
    folder: Path, net: Any, sample: Any, tolerance: float
) -> dict[str, Any]:
    """Write model.onnx as one step of a language model, (tokens (batch,), hidden (batch,
    hidden)) -> (logits (batch, vocabulary), hidden_out), batch size free: called once per token,
    carrying the state, it reads a stream of any length. The check feeds `sample` (batch, steps)
    through onnxruntime a token at a time from a zero state and compares every step's logits with
    PyTorch's on the whole sequence. Returns what export_onnx returns."""
    import numpy as np
    import torch

    try:
        import onnxruntime as ort
    except ImportError as exc:
        return {"passed": False, "error": f"onnxruntime is not installed ({exc})"}

    class Step(torch.nn.Module):
        def __init__(self, lm: Any) -> None:
            super().__init__()
            self.lm = lm

        def forward(self, tokens: torch.Tensor, hidden: torch.Tensor):
            logits, out = self.lm(tokens[:, None], hidden)
            return logits[:, 0], out

    net = net.eval()
    path = folder / ONNX
    batch = torch.export.Dim("batch")
    with torch.inference_mode():
        want, _ = net(sample)
    hidden = net.init_hidden(sample.size(0))
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            torch.onnx.export(
                Step(net),
                (sample[:, 0], hidden),
                str(path),
                dynamo=True,
                external_data=False,
                input_names=["tokens", "hidden"],
                output_names=["logits", "hidden_out"],
                dynamic_shapes=({0: batch}, {0: batch}),
            )
        log.info("onnx export: %s", printed.getvalue().strip().replace("\n", " | "))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        state, diff = hidden.numpy(), 0.0
        for t in range(sample.size(1)):
            logits, state = session.run(None, {"tokens": sample[:, t].numpy(), "hidden": state})
            diff = max(diff, float(np.abs(logits - want[:, t].numpy()).max()))
    except Exception as exc:  # the exporter's failures are many and version-specific
        path.unlink(missing_ok=True)
        return {"passed": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    return {
        "max_abs_diff": diff,
        "tolerance": tolerance,
        "passed": diff <= tolerance,
        "input": "tokens",
        "dynamic": ["batch"],
    }


def write_card(folder: Path, card: dict[str, Any]) -> None:
    """MODEL_CARD.md from the facts of a training run."""
    from nascli.results.run_dir import write_text_atomic

    m = card["metrics"]

    def pct(key: str) -> str:
        return f"{100 * m[key]:.2f} %" if m.get(key) is not None else "not measured"

    recipe = card["recipe"]
    scores, inputs = _card_scores(m), _card_inputs(card)
    classes = "tokens" if card.get("vocabulary") else "classes"
    lines = [
        f"# {card['space']} model on {card['dataset']}",
        "",
        f"Retrained from scratch by `nas train` (seed {card['seed']}) and tested once on the test split.",
        "",
        "## Architecture",
        "",
        f"Space `{card['space']}`; its canonical text, accepted by `arch=` of every nas command:",
        "",
        "```",
        card["arch"],
        "```",
        "",
    ]
    if card.get("picture"):
        lines += [f"![cells]({card['picture']})", ""]
    lines += [
        "## Numbers",
        "",
        "| what | value |",
        "| --- | --- |",
        *scores,
        f"| parameters (inference) | {m['params']:,} |",
        f"| FLOPs (one input) | {m['flops']:,} |",
        f"| latency ({card['hardware']}) | {m['latency_ms']:.3f} ms |",
        f"| input | {' x '.join(str(s) for s in card['input_shape'])}, {card['num_classes']} {classes} |",
        f"| ONNX check | {card['onnx']} |",
        "",
        "## Training",
        "",
        f"- dataset `{card['dataset']}`, trained on {recipe['train_on']}, {recipe['epochs']} epochs, "
        f"batch {recipe['batch_size']}",
        f"- optimiser `{recipe['optimizer']}`, schedule `{recipe['scheduler']}`",
        f"- augmentation {recipe['augment']}, drop-path {recipe['drop_path_prob']}, auxiliary "
        f"weight {recipe['auxiliary_weight']}, label smoothing {recipe['label_smoothing']}, "
        f"grad clip {recipe['grad_clip']}",
        f"- {card['seconds']:.0f} s of training on {card['trainer']}",
        "",
        "## Provenance",
        "",
        f"- nascli git commit: {card['git'] or 'not a git checkout'}",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()),
        "",
        "## Use it",
        "",
        "```python",
        "import nascli",
        f'net = nascli.load("{card["run_dir"]}")  # an nn.Module in eval mode',
        *inputs,
        "```",
        "",
    ]
    if card.get("onnx_input") == "tokens":
        lines += [
            "Or without PyTorch: `onnxruntime.InferenceSession('model.onnx')` is one step: inputs "
            "`tokens` (batch,) and `hidden` (batch, hidden size; zeros to start), outputs "
            "`logits` and `hidden_out`, the state to pass with the next token.",
            "",
        ]
    elif card.get("onnx_input"):
        lines += [
            "Or without PyTorch: `onnxruntime.InferenceSession('model.onnx')` with input "
            f"`{card['onnx_input']}`.",
            "",
        ]
    write_text_atomic(folder / CARD, "\n".join(lines))


def _card_scores(m: dict[str, Any]) -> list[str]:
    """The card's rows for the task's score: perplexity for a language model, else accuracy."""

    def shown(key: str) -> str:
        if m.get(key) is None:
            return "not measured"
        return f"{m[key]:.2f}" if key.endswith("_ppl") else f"{100 * m[key]:.2f} %"

    name = "perplexity" if "test_ppl" in m else "accuracy"
    key = "ppl" if "test_ppl" in m else "acc"
    return [
        f"| test {name} | {shown(f'test_{key}')} |",
        f"| validation {name} | {shown(f'val_{key}')} |",
        f"| final training {name} | {shown(f'train_{key}')} |",
    ]


def _card_inputs(card: dict[str, Any]) -> list[str]:
    """How to feed the loaded network, as comments under `nascli.load`."""
    if card.get("vocabulary"):
        return [
            "# inputs: (batch, steps) token ids, line i of vocab.txt being id i; net(tokens) gives",
            "# (logits over the vocabulary per step, the hidden state to pass to the next chunk)",
        ]
    norm = card["normalize"]
    if card.get("onnx_input") == "sequences":
        first = (
            "# inputs: (batch, steps, features) sequences of up to "
            f"{card['input_shape'][0]} steps, normalised as in training:"
        )
    else:
        first = "# inputs: images scaled to [0, 1], then (x - mean) / std per channel:"
    return [first, f"# mean {norm['mean']}, std {norm['std']}"]


def write_ensemble(folder: Path, members: Sequence[Path], card: dict[str, Any]) -> None:
    """ensemble.json (member folders relative to `folder`) and the ensemble's MODEL_CARD.md."""
    from nascli.results.run_dir import write_json_atomic, write_text_atomic

    names = [str(Path(m).relative_to(folder)) for m in members]
    write_json_atomic(
        folder / ENSEMBLE,
        {"members": names, "combine": "mean of the members' softmax probabilities"},
    )
    m = card["metrics"]
    lines = [
        f"# An ensemble of {len(names)} {card['space']} models on {card['dataset']}",
        "",
        f"The top {len(names)} architectures of a search, each retrained from scratch by "
        "`nas train`, averaged: the ensemble's class probabilities are the mean of its members'.",
        "",
        "| member | test accuracy | architecture |",
        "| --- | --- | --- |",
    ]
    for name, member in zip(names, card["members"], strict=True):
        lines.append(f"| {name} | {100 * member['test_acc']:.2f} % | `{member['arch']}` |")
    lines += [
        "",
        "| what | value |",
        "| --- | --- |",
        f"| ensemble test accuracy | {100 * m['test_acc']:.2f} % |",
        f"| parameters (all members) | {m['params']:,} |",
        f"| FLOPs (one image, all members) | {m['flops']:,} |",
        f"| latency ({card['hardware']}) | {m['latency_ms']:.3f} ms |",
        f"| ONNX check | {card['onnx']} |",
        "",
        "Each member's folder is a bundle of its own, with its training recipe in its card.",
        "",
        "## Use it",
        "",
        "```python",
        "import nascli",
        f'net = nascli.load("{card["run_dir"]}")  # one nn.Module averaging the members',
        "# net(x) is the log of the mean probabilities: argmax and softmax read it as logits",
        "```",
        "",
        "Or without PyTorch: `onnxruntime.InferenceSession('model.onnx')` with input `images`.",
        "",
    ]
    write_text_atomic(folder / CARD, "\n".join(lines))
