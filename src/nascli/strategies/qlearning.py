"""MetaQNN (Baker et al. 2017): tabular Q-learning over decision-by-decision choices, epsilon-greedy
with a decaying epsilon, Q-values updated by the temporal-difference rule with experience replay."""

from __future__ import annotations

from typing import Any

from nascli.core.objectives import reward_of
from nascli.strategies.base import Strategy


class QLearning(Strategy):
    """State i is (decision index, previous choice); an episode makes every decision in order and
    earns the trained architecture's reward at its end.

    Args:
        alpha: Q learning rate (MetaQNN: 0.01).
        gamma: discount (MetaQNN: 1).
        q_init: initial Q-value (MetaQNN: 0.5).
        epsilon_start, epsilon_end, epsilon_trials: epsilon decays linearly over that many trials.
        replay: episodes replayed from memory after each told result (MetaQNN: 100).
        objective: the reward metric (its reciprocal where lower is better; a failed trial earns 0).
    """

    def __init__(
        self,
        space,
        seed: int = 0,
        alpha: float = 0.01,
        gamma: float = 1.0,
        q_init: float = 0.5,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.1,
        epsilon_trials: int = 50,
        replay: int = 100,
        objective: str = "val_acc",
    ) -> None:
        super().__init__(space, seed)
        self.alpha, self.gamma, self.q_init = alpha, gamma, q_init
        self.epsilon_start, self.epsilon_end, self.epsilon_trials = (
            epsilon_start,
            epsilon_end,
            epsilon_trials,
        )
        self.replay, self.objective = replay, objective
        self.cards = tuple(space.cardinalities)
        self.q: dict[str, float] = {}
        self.memory: list[tuple[list[int], float]] = []
        self.told = 0

    @property
    def epsilon(self) -> float:
        done = min(1.0, self.told / max(1, self.epsilon_trials))
        return self.epsilon_start + (self.epsilon_end - self.epsilon_start) * done

    @staticmethod
    def _key(i: int, previous: int, action: int) -> str:
        return f"{i}|{previous}|{action}"

    def value(self, i: int, previous: int, action: int) -> float:
        return self.q.get(self._key(i, previous, action), self.q_init)

    def ask(self) -> str:
        choices, previous = [], -1
        for i, n in enumerate(self.cards):
            if self.rng.random() < self.epsilon:
                action = self.rng.randrange(n)
            else:
                values = [self.value(i, previous, a) for a in range(n)]
                best = max(values)
                action = self.rng.choice([a for a, v in enumerate(values) if v == best])
            choices.append(action)
            previous = action
        return self.space.format(choices)

    def update(self, choices: list[int], reward: float) -> None:
        """One TD pass over an episode, last decision first (as MetaQNN does)."""
        q, q_init, alpha = self.q, self.q_init, self.alpha
        last = len(choices) - 1
        for i in range(last, -1, -1):
            previous = choices[i - 1] if i > 0 else -1
            if i == last:
                target = reward
            else:
                prefix = f"{i + 1}|{choices[i]}|"
                best = max(q.get(prefix + str(a), q_init) for a in range(self.cards[i + 1]))
                target = self.gamma * best
            key = self._key(i, previous, choices[i])
            q[key] = (1 - alpha) * q.get(key, q_init) + alpha * target

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        reward = reward_of(metrics, self.objective)
        choices = self.space.encode(arch)
        self.memory.append((choices, reward))
        self.told += 1
        self.update(choices, reward)
        for _ in range(self.replay):
            self.update(*self.memory[self.rng.randrange(len(self.memory))])

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "q": self.q,
            "memory": [[c, r] for c, r in self.memory],
            "told": self.told,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.q = dict(state["q"])
        self.memory = [(list(c), r) for c, r in state["memory"]]
        self.told = state["told"]
