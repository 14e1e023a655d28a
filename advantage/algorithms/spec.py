"""One record per algorithm: what it is (name, config, update rule) and what it supports.

Each algorithm's module defines its ``SPEC``; :mod:`advantage.algorithms` collects them in
``ALGORITHMS``, one entry each. The command line's ``--algo``, the API classes (``PPO``, ``A2C``,
...), the defaults tables and the validation of a run's configuration all read this registry, so
adding an algorithm means writing its module and adding it to that one line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from gymnasium import spaces

from advantage.algorithms.base import AlgoConfig, Algorithm

POLICIES = ("mlp", "lstm")
"""Policy kinds (``model.policy``); image observations get a CNN encoder under either."""
ACTION_SPACES = ("discrete", "multi-discrete", "multi-binary", "box")
BACKENDS = ("local", "ray")
"""Where the envs run (``distributed``): in the learner's process, or on Ray workers."""


def action_space_kind(space: spaces.Space) -> str:
    """The :data:`ACTION_SPACES` name of a Gymnasium action space (its class name otherwise)."""
    kinds = {spaces.Discrete: "discrete", spaces.MultiDiscrete: "multi-discrete",
             spaces.MultiBinary: "multi-binary", spaces.Box: "box"}
    return next((kind for cls, kind in kinds.items() if isinstance(space, cls)), type(space).__name__)


def _names(values: tuple[str, ...]) -> str:
    return " and ".join(values) if len(values) <= 2 else ", ".join(values[:-1]) + " and " + values[-1]


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm's name, classes and supported combinations."""

    name: str
    """What ``--algo`` and ``RunConfig.algo`` call it."""
    api_name: str
    """Its class in the Python API (``advantage.PPO``)."""
    summary: str
    """One line saying what it is (the API class's docstring)."""
    config: type[AlgoConfig]
    algorithm: type[Algorithm]
    policies: tuple[str, ...] = POLICIES
    action_spaces: tuple[str, ...] = ACTION_SPACES
    backends: tuple[str, ...] = BACKENDS
    asynchronous: bool = False
    """Workers send gradients that the learner applies as they arrive (A3C), instead of rollouts."""
    ray_gradients: bool = False
    """On Ray, workers send gradients as A3C's do (each worker learning from its own rollouts and
    replay), while ``distributed = "local"`` runs the synchronous loop: UNREAL, which the paper
    trains A3C-style."""
    actor_learner: bool = False
    """Actors send trajectories that the learner consumes as they arrive, in batches, without a
    barrier (IMPALA, APPO): the data may come from older policies, which the estimator corrects."""

    def __post_init__(self) -> None:
        for field, values, known in (
            ("policies", self.policies, POLICIES), ("action_spaces", self.action_spaces, ACTION_SPACES),
            ("backends", self.backends, BACKENDS),
        ):
            if not values or not set(values) <= set(known):
                raise ValueError(f"spec {self.name}: {field} must be a non-empty subset of {known}, got {values}")
        if self.algorithm.name != self.name:
            raise ValueError(f"spec {self.name}: its algorithm class {self.algorithm.__name__} is named {self.algorithm.name!r}")
        if (self.asynchronous or self.actor_learner) and self.backends != ("ray",):
            raise ValueError(f"spec {self.name}: an asynchronous algorithm runs on Ray workers only (backends ('ray',))")
        if self.ray_gradients and ("ray" not in self.backends or self.asynchronous or self.actor_learner):
            raise ValueError(f"spec {self.name}: ray_gradients is for a synchronous algorithm that also runs on Ray")
        if self.asynchronous and self.actor_learner:
            raise ValueError(f"spec {self.name}: workers send either gradients (asynchronous) or trajectories (actor_learner)")

    def sends_gradients(self, backend: str) -> bool:
        """Whether, with ``distributed = backend``, workers send gradients (A3C-style) instead of
        rollouts or trajectories."""
        return self.asynchronous or (self.ray_gradients and backend == "ray")

    @property
    def default_estimator(self) -> str:
        """The return estimator ``trainer.returns = "auto"`` selects (the algorithm's ``default_returns``)."""
        return self.algorithm.default_returns

    def refusal(self, policy: str, backend: str, specs: dict[str, AlgorithmSpec]) -> str | None:
        """Why this algorithm cannot run ``policy`` with ``backend`` (one line), or None when it can."""
        if policy not in self.policies:
            able = tuple(name for name, spec in specs.items() if policy in spec.policies)
            return (f"policy {policy} is available for {_names(able)}, not {self.name} "
                    f"({self.name} supports policy {_names(self.policies)})")
        if backend not in self.backends:
            return (f"{self.name} runs with distributed = {_names(self.backends)} only, not {backend!r}: "
                    f"set distributed = {self.backends[0]!r} (--backend {self.backends[0]})")
        return None

    def check_action_space(self, space: spaces.Space) -> None:
        """Raise ValueError (one line) for an action space this algorithm does not support (a space
        of no kind in :data:`ACTION_SPACES` is left to the model, which names the ones it has)."""
        kind = action_space_kind(space)
        if kind in ACTION_SPACES and kind not in self.action_spaces:
            raise ValueError(f"{self.name} supports {_names(self.action_spaces)} actions, not {kind} ({space})")


def registry(*specs: AlgorithmSpec) -> dict[str, AlgorithmSpec]:
    """The specs by name (each name once)."""
    found: dict[str, AlgorithmSpec] = {}
    for spec in specs:
        if spec.name in found:
            raise ValueError(f"two algorithm specs are named {spec.name!r}")
        found[spec.name] = spec
    return found


def find_spec(specs: dict[str, AlgorithmSpec], name: str) -> AlgorithmSpec:
    """``specs[name]``, or a ValueError naming the known algorithms and the closest one."""
    if name not in specs:
        close = difflib.get_close_matches(str(name), list(specs), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown algorithm {name!r}; choose one of {sorted(specs)}{hint}")
    return specs[name]
