"""REINFORCE with an LSTM controller (Zoph & Le 2017; the ENAS controller): the controller emits
the architecture one decision at a time and is trained on the reward with an exponential moving
average baseline and an entropy bonus. `algorithm=ppo` uses PPO's clipped surrogate instead
(Zoph et al. 2018 trained the NASNet controller with PPO)."""

from __future__ import annotations

import base64
from typing import Any

import torch
from torch import nn

from nascli.core.errors import NascliError
from nascli.core.objectives import reward_of
from nascli.strategies.base import Strategy


class Controller(nn.Module):
    """An LSTM cell unrolled over the space's decisions; decision i has its own softmax head."""

    def __init__(self, cardinalities: list[int], hidden: int = 64) -> None:
        super().__init__()
        self.cardinalities = cardinalities
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.embed = nn.ModuleList(nn.Embedding(n, hidden) for n in cardinalities)
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in cardinalities)

    def forward(self, choices: list[int] | None = None, generator: torch.Generator | None = None):
        """Sample (choices None) or score given choices; returns (choices, log_prob, entropy)."""
        x, state = self.start, None
        out, log_prob, entropy = [], torch.zeros(()), torch.zeros(())
        for i in range(len(self.cardinalities)):
            h, c = self.lstm(x, state)
            state = (h, c)
            dist = torch.distributions.Categorical(logits=self.heads[i](h)[0])
            if choices is None:
                choice = int(torch.multinomial(dist.probs.detach(), 1, generator=generator))
            else:
                choice = int(choices[i])
            out.append(choice)
            log_prob = log_prob + dist.log_prob(torch.tensor(choice))
            entropy = entropy + dist.entropy()
            x = self.embed[i](torch.tensor([choice]))
        return out, log_prob, entropy

    @torch.no_grad()
    def greedy(self) -> tuple[list[int], list[list[float]]]:
        """The most likely choice at every decision, and each decision's probabilities."""
        x, state = self.start, None
        out, probs = [], []
        for i in range(len(self.cardinalities)):
            state = self.lstm(x, state)
            p = torch.softmax(self.heads[i](state[0])[0], dim=-1)
            out.append(int(p.argmax()))
            probs.append(p.tolist())
            x = self.embed[i](torch.tensor([out[-1]]))
        return out, probs


class Reinforce(Strategy):
    """Args:
    lr: Adam learning rate of the controller.
    baseline_decay: the baseline's EMA factor.
    entropy_weight: weight of the entropy bonus (keeps the controller exploring).
    objective: the reward metric (its reciprocal where lower is better; a failed trial earns 0).
    """

    def __init__(
        self,
        space,
        seed: int = 0,
        hidden: int = 64,
        lr: float = 0.005,
        baseline_decay: float = 0.9,
        entropy_weight: float = 1e-3,
        objective: str = "val_acc",
        algorithm: str = "reinforce",
        ppo_clip: float = 0.2,
        ppo_epochs: int = 4,
    ) -> None:
        super().__init__(space, seed)
        if algorithm not in ("reinforce", "ppo"):
            raise NascliError(
                f"strategy.algorithm={algorithm} is not known; choose reinforce or ppo"
            )
        self.algorithm, self.ppo_clip, self.ppo_epochs = algorithm, ppo_clip, ppo_epochs
        torch.manual_seed(seed)
        self.controller = Controller(list(space.cardinalities), hidden)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.baseline_decay, self.entropy_weight, self.objective = (
            baseline_decay,
            entropy_weight,
            objective,
        )
        self.baseline: float | None = None
        self.asked = 0

    @property
    def asynchronous(self) -> bool:
        """Whether proposals may be asked before earlier ones are told (search.workers > 1): not
        with PPO, whose ratio takes the proposing policy to be the current one."""
        return self.algorithm == "reinforce"

    def ask(self) -> str:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.asked)
        self.asked += 1
        with torch.no_grad():
            choices, _, _ = self.controller(generator=generator)
        return self.space.format(choices)

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        reward = reward_of(metrics, self.objective)
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        choices = self.space.encode(arch)
        if self.algorithm == "reinforce":
            _, log_prob, entropy = self.controller(choices)
            self._step(-advantage * log_prob - self.entropy_weight * entropy)
            return
        # PPO: several steps on the clipped surrogate; the policy that proposed `arch` is the
        # current one (a proposal is told before the next is asked).
        with torch.no_grad():
            old_log_prob = self.controller(choices)[1]
        for _ in range(self.ppo_epochs):
            _, log_prob, entropy = self.controller(choices)
            ratio = torch.exp(log_prob - old_log_prob)
            clipped = torch.clamp(ratio, 1 - self.ppo_clip, 1 + self.ppo_clip)
            self._step(
                -torch.min(ratio * advantage, clipped * advantage) - self.entropy_weight * entropy
            )

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def probability(self, arch: str) -> float:
        """The controller's probability of proposing `arch`."""
        with torch.no_grad():
            return float(self.controller(self.space.encode(arch))[1].exp())

    def state_dict(self) -> dict[str, Any]:
        def lists(obj):
            if isinstance(obj, torch.Tensor):
                # The raw bytes, base64: exact, and far quicker to write after every trial than
                # a list of floats (a hidden-64 controller and its Adam moments: ~100k numbers).
                t = obj.detach().cpu().contiguous()
                return {
                    "b64": base64.b64encode(t.numpy().tobytes()).decode("ascii"),
                    "dtype": str(t.dtype).removeprefix("torch."),
                    "shape": list(t.shape),
                }
            if isinstance(obj, dict):
                return {str(k): lists(v) for k, v in obj.items()}
            if isinstance(obj, list | tuple):
                return [lists(v) for v in obj]
            return obj

        return {
            **super().state_dict(),
            "controller": lists(self.controller.state_dict()),
            "optimizer": lists(self.optimizer.state_dict()),
            "baseline": self.baseline,
            "asked": self.asked,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        def tensors(obj):
            if isinstance(obj, dict) and set(obj) == {"b64", "dtype", "shape"}:
                dtype = getattr(torch, obj["dtype"])
                raw = bytearray(base64.b64decode(obj["b64"]))
                flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
                return flat.reshape(obj["shape"]).clone()
            if isinstance(obj, dict) and set(obj) == {"tensor", "dtype"}:  # states written before
                return torch.tensor(obj["tensor"], dtype=getattr(torch, obj["dtype"]))
            if isinstance(obj, dict):
                return {(int(k) if k.isdigit() else k): tensors(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [tensors(v) for v in obj]
            return obj

        super().load_state_dict(state)
        self.controller.load_state_dict(tensors(state["controller"]))
        self.optimizer.load_state_dict(tensors(state["optimizer"]))
        self.baseline, self.asked = state["baseline"], state["asked"]
