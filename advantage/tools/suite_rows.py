"""The standard suite's rows: algorithm, env, budget, threshold and the zoo entry SB3 runs beside it."""

from __future__ import annotations

import dataclasses
from typing import Any

LIBRARIES = ("advantage", "sb3")
"""The libraries the suite can train: advantage, and Stable-Baselines3 with the zoo's settings."""


@dataclasses.dataclass(frozen=True)
class SuiteRow:
    """One line of the suite: what trains, for how long, and what it must hold at the end."""

    name: str
    algo: str
    env: str
    budget: int
    threshold: float
    eval_freq: int  # env steps between greedy validations (the learning curve's resolution)
    overrides: tuple[str, ...] = ()  # config assignments on top of the env's defaults
    zoo: str | None = None  # rl-baselines3-zoo file whose entry SB3 runs with, None: no SB3 run
    final_every_seed: bool = False  # threshold held at the end by every seed, not only the median
    env_kwargs: dict[str, Any] | None = None  # the env's constructor arguments (ad hoc rows)
    env_step_ms: float = 0.0  # milliseconds every env step sleeps, on both sides (advantage.envs.step_delay)

    @property
    def libraries(self) -> tuple[str, ...]:
        return LIBRARIES if self.zoo else ("advantage",)

    @property
    def base_name(self) -> str:
        """The row's name without its env step delay (what ``--rows`` selects it by)."""
        return self.name.rsplit(" +", 1)[0] if self.env_step_ms else self.name

    def with_step_delay(self, ms: float) -> SuiteRow:
        """This row on its env made to sleep ``ms`` milliseconds a step (a row of its own name)."""
        if not ms > 0:
            raise ValueError(f"--env-step-ms must be > 0 milliseconds, got {ms}")
        return dataclasses.replace(self, name=f"{self.name} +{ms:g}ms/step", env_step_ms=float(ms))

    def make_args(self) -> tuple[str, dict[str, Any]]:
        """The env id and constructor kwargs both libraries make this row's envs with: the row's
        env, or its ``StepDelay/`` form with ``delay_ms`` when it has an env step delay."""
        kwargs = dict(self.env_kwargs or {})
        if not self.env_step_ms:
            return self.env, kwargs
        from advantage.envs.step_delay import delayed_id

        return delayed_id(self.env), {**kwargs, "delay_ms": self.env_step_ms}


_LSTM = ("model.policy='lstm'",)
_RAY_2 = ("distributed='ray'", "num_workers=2")

# The suite of issue 13: algorithm, env, budget, threshold (what the median of 3 seeds must hold at
# the end of the budget; every seed must reach it at least once).
SUITE: tuple[SuiteRow, ...] = (
    SuiteRow("ppo-cartpole", "ppo", "CartPole-v1", 300_000, 475.0, 10_000, zoo="ppo"),
    SuiteRow("ppo-acrobot", "ppo", "Acrobot-v1", 500_000, -85.0, 10_000, zoo="ppo"),
    SuiteRow("ppo-mountaincar", "ppo", "MountainCar-v0", 1_000_000, -120.0, 20_000, zoo="ppo"),
    SuiteRow("ppo-pendulum", "ppo", "Pendulum-v1", 300_000, -200.0, 10_000, zoo="ppo"),
    SuiteRow("ppo-mountaincarcontinuous", "ppo", "MountainCarContinuous-v0", 200_000, 85.0, 10_000, zoo="ppo"),
    SuiteRow("ppo-lunarlander", "ppo", "LunarLander-v3", 1_000_000, 200.0, 20_000, zoo="ppo"),
    SuiteRow("ppo-bipedalwalker", "ppo", "BipedalWalker-v3", 5_000_000, 200.0, 100_000, zoo="ppo"),
    SuiteRow("ppo-halfcheetah", "ppo", "HalfCheetah-v5", 1_000_000, 4000.0, 50_000),
    SuiteRow("ppo-hopper", "ppo", "Hopper-v5", 1_000_000, 2400.0, 50_000),
    SuiteRow("ppo-lstm-cartpolenovel", "ppo", "CartPoleNoVel-v1", 200_000, 475.0, 10_000, _LSTM,
             zoo="ppo_lstm", final_every_seed=True),
    SuiteRow("ppo-ray-cartpole", "ppo", "CartPole-v1", 300_000, 475.0, 10_000, _RAY_2),
    SuiteRow("a2c-cartpole", "a2c", "CartPole-v1", 500_000, 475.0, 10_000, zoo="a2c"),
    SuiteRow("a2c-acrobot", "a2c", "Acrobot-v1", 500_000, -90.0, 10_000, zoo="a2c"),
    SuiteRow("a2c-lunarlander", "a2c", "LunarLander-v3", 1_000_000, 150.0, 20_000, zoo="a2c"),
    SuiteRow("a2c-pendulum", "a2c", "Pendulum-v1", 1_000_000, -250.0, 20_000, zoo="a2c"),
    SuiteRow("a2c-halfcheetah", "a2c", "HalfCheetah-v5", 1_000_000, 2500.0, 50_000),
    SuiteRow("a2c-lstm-cartpolenovel", "a2c", "CartPoleNoVel-v1", 500_000, 475.0, 10_000, _LSTM),
    SuiteRow("a3c-cartpole", "a3c", "CartPole-v1", 500_000, 475.0, 10_000, _RAY_2),
    SuiteRow("pg-cartpole", "pg", "CartPole-v1", 300_000, 475.0, 10_000),
)
ROWS = {row.name: row for row in SUITE}
