"""Numpy-vectorised Acrobot-v1, MountainCar-v0 and Pendulum-v1: N copies stepped by array operations.

Gymnasium ships such an implementation for CartPole only. Stepping the others' copies one after
another in Python costs about 40 µs (Acrobot's Runge-Kutta step) and 12 µs (MountainCar, Pendulum)
per env step, comparable to a small policy's whole training step. Here one step of all N copies is
a few dozen array operations.

Each class reproduces Gymnasium's env bit for bit: the same float64 and float32 arithmetic in the
same order (squares of float64 numbers as ``np.float_power``: Gymnasium squares numpy scalars with
``pow``, which rounds differently from ``x * x`` in about 1 case in 1,000), and one random
generator per copy, seeded as ``SyncVectorEnv`` seeds its envs (``reset(seed=s)`` seeds copy i
with ``s + i``). A run therefore takes the same trajectory whether
``env_backend`` is ``vector`` or ``sync``; the tests compare every observation, reward and flag
against ``SyncVectorEnv`` of Gymnasium's own envs. Episodes end as with ``gym.make``: truncated
after the registered ``max_episode_steps``, then reset on the next step (``AutoresetMode.NEXT_STEP``:
that step ignores its action and returns the reset observation with reward 0).
"""

from __future__ import annotations

from math import pi
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


class ClassicVectorEnv(VectorEnv):
    """N copies of one classic-control env with per-copy generators, time limit and next-step autoreset.

    Subclasses define ``_reset_copy`` (one copy's initial state, drawn as Gymnasium's ``reset``
    draws it) and ``_step_all`` (every copy's dynamics at once).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, max_episode_steps: int, observation_space: spaces.Box,
                 action_space: spaces.Space) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = observation_space
        self.observation_space = batch_space(observation_space, num_envs)
        self.single_action_space = action_space
        self.action_space = batch_space(action_space, num_envs)
        self.generators: list[np.random.Generator] = []
        """Copy i's generator, as ``SyncVectorEnv``'s env i has its own ``np_random``."""
        self.elapsed = np.zeros(num_envs, dtype=np.int64)
        self.autoreset = np.zeros(num_envs, dtype=bool)
        """Copies whose episode ended on the last step: the next step resets them."""

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if options:
            raise ValueError(
                f"{type(self).__name__} takes no reset options (got {sorted(options)}); "
                "use env_backend='sync' to pass them to Gymnasium's env"
            )
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed
        if seeds is None:
            seeds = [None] * self.num_envs
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} envs")
        if not self.generators:  # unseeded copies draw fresh entropy, as Gymnasium's envs do
            self.generators = [seeding.np_random(copy_seed)[0] for copy_seed in seeds]
        else:  # reset() without a seed continues each copy's generator
            for i, copy_seed in enumerate(seeds):
                if copy_seed is not None:
                    self.generators[i] = seeding.np_random(copy_seed)[0]
        obs = np.zeros((self.num_envs, *self.single_observation_space.shape), dtype=np.float32)
        for i in range(self.num_envs):
            obs[i] = self._reset_copy(i)
        self.elapsed[:] = 0
        self.autoreset[:] = False
        return obs, {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions)
        if not self.generators:
            raise RuntimeError("call reset before step")
        self._check_actions(actions)
        obs, reward, terminated = self._step_all(actions)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        if self.autoreset.any():  # (most steps reset no copy: four masked writes saved)
            for i in np.flatnonzero(self.autoreset):  # these copies' step was their reset
                obs[i] = self._reset_copy(i)
            reward[self.autoreset] = 0.0
            terminated[self.autoreset] = False
            truncated[self.autoreset] = False
            self.elapsed[self.autoreset] = 0
        self.autoreset = terminated | truncated
        return obs, reward, terminated, truncated, {}

    def _check_actions(self, actions: np.ndarray) -> None:
        """One action per copy; discrete ones integers in range. Box actions are clipped by the
        dynamics, as Gymnasium's envs clip them."""
        expected = (self.num_envs, *self.single_action_space.shape)
        if actions.shape != expected:
            raise ValueError(f"expected actions of shape {expected}, got {actions.shape}")
        if isinstance(self.single_action_space, spaces.Discrete) and not (
            np.issubdtype(actions.dtype, np.integer) and ((actions >= 0) & (actions < self.single_action_space.n)).all()
        ):
            raise ValueError(f"actions must be integers in [0, {self.single_action_space.n}), got {actions!r}")

    def _reset_copy(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def _step_all(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every copy: float32 observations, float64 rewards, termination flags."""
        raise NotImplementedError


# -- Acrobot-v1 ---------------------------------------------------------------------------------
def _wrap(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Gymnasium's ``wrap``: add or subtract the range until x lies in [low, high]."""
    diff = high - low
    while (above := x > high).any():
        x = np.where(above, x - diff, x)
    while (below := x < low).any():
        x = np.where(below, x + diff, x)
    return x


class AcrobotVectorEnv(ClassicVectorEnv):
    """Gymnasium's ``AcrobotEnv`` ("book" dynamics, no torque noise), one Runge-Kutta step of
    dt = 0.2 for all copies at once. State rows: θ1, θ2, θ̇1, θ̇2 of every copy (float64)."""

    dt = 0.2
    LINK_LENGTH_1 = 1.0
    LINK_MASS_1 = 1.0
    LINK_MASS_2 = 1.0
    LINK_COM_POS_1 = 0.5
    LINK_COM_POS_2 = 0.5
    LINK_MOI = 1.0
    MAX_VEL_1 = 4 * pi
    MAX_VEL_2 = 9 * pi
    TORQUES = np.array([-1.0, 0.0, 1.0])

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500) -> None:
        high = np.array([1.0, 1.0, 1.0, 1.0, self.MAX_VEL_1, self.MAX_VEL_2], dtype=np.float32)
        super().__init__(num_envs, max_episode_steps, spaces.Box(-high, high, dtype=np.float32), spaces.Discrete(3))
        self.state = np.zeros((4, num_envs), dtype=np.float64)

    def _reset_copy(self, i: int) -> np.ndarray:
        s = self.generators[i].uniform(low=-0.1, high=0.1, size=(4,)).astype(np.float32)
        self.state[:, i] = s
        # the reset observation is computed from the float32 state, as Gymnasium's is
        return np.array([np.cos(s[0]), np.sin(s[0]), np.cos(s[1]), np.sin(s[1]), s[2], s[3]], dtype=np.float32)

    def _derivatives(self, theta1, theta2, dtheta1, dtheta2, a):
        m1, m2, l1 = self.LINK_MASS_1, self.LINK_MASS_2, self.LINK_LENGTH_1
        lc1, lc2, I1, I2, g = self.LINK_COM_POS_1, self.LINK_COM_POS_2, self.LINK_MOI, self.LINK_MOI, 9.8
        cos_theta2, sin_theta2 = np.cos(theta2), np.sin(theta2)
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos_theta2) + I1 + I2  # Python floats: pow
        d2 = m2 * (lc2**2 + l1 * lc2 * cos_theta2) + I2
        phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * np.float_power(dtheta2, 2) * sin_theta2
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin_theta2
            + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - pi / 2)
            + phi2
        )
        ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * np.float_power(dtheta1, 2) * sin_theta2 - phi2) / (
            m2 * lc2**2 + I2 - np.float_power(d2, 2) / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return dtheta1, dtheta2, ddtheta1, ddtheta2

    def _step_all(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        torque = self.TORQUES[actions]
        y0 = tuple(self.state)
        dt, dt2 = self.dt, self.dt / 2.0
        k1 = self._derivatives(*y0, torque)
        k2 = self._derivatives(*(y + dt2 * k for y, k in zip(y0, k1)), torque)
        k3 = self._derivatives(*(y + dt2 * k for y, k in zip(y0, k2)), torque)
        k4 = self._derivatives(*(y + dt * k for y, k in zip(y0, k3)), torque)
        theta1, theta2, dtheta1, dtheta2 = (
            y + dt / 6.0 * (a + 2 * b + 2 * c + d) for y, a, b, c, d in zip(y0, k1, k2, k3, k4)
        )
        theta1, theta2 = _wrap(theta1, -pi, pi), _wrap(theta2, -pi, pi)
        dtheta1 = np.minimum(np.maximum(dtheta1, -self.MAX_VEL_1), self.MAX_VEL_1)
        dtheta2 = np.minimum(np.maximum(dtheta2, -self.MAX_VEL_2), self.MAX_VEL_2)
        self.state = np.stack([theta1, theta2, dtheta1, dtheta2])
        terminated = -np.cos(theta1) - np.cos(theta2 + theta1) > 1.0
        reward = np.where(terminated, 0.0, -1.0)
        obs = np.stack([np.cos(theta1), np.sin(theta1), np.cos(theta2), np.sin(theta2), dtheta1, dtheta2],
                       axis=1).astype(np.float32)
        return obs, reward, terminated


# -- MountainCar-v0 -----------------------------------------------------------------------------
class MountainCarVectorEnv(ClassicVectorEnv):
    """Gymnasium's ``MountainCarEnv``: velocity += (a − 1)·force − cos(3·position)·gravity, both clipped."""

    min_position, max_position, max_speed, goal_position = -1.2, 0.6, 0.07, 0.5
    force, gravity = 0.001, 0.0025

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 200, goal_velocity: float = 0) -> None:
        low = np.array([self.min_position, -self.max_speed], dtype=np.float32)
        high = np.array([self.max_position, self.max_speed], dtype=np.float32)
        super().__init__(num_envs, max_episode_steps, spaces.Box(low, high, dtype=np.float32), spaces.Discrete(3))
        self.goal_velocity = goal_velocity
        self.position = np.zeros(num_envs, dtype=np.float64)
        self.velocity = np.zeros(num_envs, dtype=np.float64)

    def _reset_copy(self, i: int) -> np.ndarray:
        self.position[i] = self.generators[i].uniform(low=-0.6, high=-0.4)
        self.velocity[i] = 0.0
        return np.array([self.position[i], 0.0], dtype=np.float32)

    def _step_all(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        velocity = self.velocity + ((actions - 1) * self.force + np.cos(3 * self.position) * (-self.gravity))
        velocity = np.clip(velocity, -self.max_speed, self.max_speed)
        position = np.clip(self.position + velocity, self.min_position, self.max_position)
        velocity[(position == self.min_position) & (velocity < 0)] = 0.0
        self.position, self.velocity = position, velocity
        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        obs = np.stack([position, velocity], axis=1).astype(np.float32)
        return obs, np.full(self.num_envs, -1.0), terminated


# -- Pendulum-v1 --------------------------------------------------------------------------------
class PendulumVectorEnv(ClassicVectorEnv):
    """Gymnasium's ``PendulumEnv``: cost θ² + 0.1·θ̇² + 0.001·u² (θ normalised to [−π, π)), and
    θ̇ += (3g/2l·sin θ + 3/ml²·u)·dt, clipped to ±8."""

    max_speed, max_torque, dt, mass, length = 8, 2.0, 0.05, 1.0, 1.0

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 200, g: float = 10.0) -> None:
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        action_space = spaces.Box(low=-self.max_torque, high=self.max_torque, shape=(1,), dtype=np.float32)
        super().__init__(num_envs, max_episode_steps, spaces.Box(-high, high, dtype=np.float32), action_space)
        self.g = g
        self.theta = np.zeros(num_envs, dtype=np.float64)
        self.theta_dot = np.zeros(num_envs, dtype=np.float64)

    def _reset_copy(self, i: int) -> np.ndarray:
        self.theta[i], self.theta_dot[i] = self.generators[i].uniform(low=-np.array([pi, 1.0]), high=np.array([pi, 1.0]))
        return np.array([np.cos(self.theta[i]), np.sin(self.theta[i]), self.theta_dot[i]], dtype=np.float32)

    def _step_all(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        th, thdot, g, mass, length, dt = self.theta, self.theta_dot, self.g, self.mass, self.length, self.dt
        u = np.clip(actions[:, 0], -self.max_torque, self.max_torque)  # the actions' dtype, as Gymnasium keeps it
        # u² as Gymnasium squares its numpy scalar (a float32 one for float32 actions): no array
        # operation rounds as that scalar power does, so the N squares are taken one by one
        u_squared = np.array([x**2 for x in u], dtype=u.dtype)
        costs = np.float_power(((th + np.pi) % (2 * np.pi)) - np.pi, 2) + 0.1 * np.float_power(thdot, 2) + 0.001 * u_squared
        newthdot = thdot + (3 * g / (2 * length) * np.sin(th) + 3.0 / (mass * length**2) * u) * dt
        newthdot = np.clip(newthdot, -self.max_speed, self.max_speed)
        self.theta, self.theta_dot = th + newthdot * dt, newthdot
        obs = np.stack([np.cos(self.theta), np.sin(self.theta), self.theta_dot], axis=1).astype(np.float32)
        return obs, -costs, np.zeros(self.num_envs, dtype=bool)


VECTOR_ENVS: dict[str, type[ClassicVectorEnv]] = {
    "Acrobot-v1": AcrobotVectorEnv,
    "MountainCar-v0": MountainCarVectorEnv,
    "Pendulum-v1": PendulumVectorEnv,
}
"""advantage's numpy-vectorised implementations, by the Gymnasium id whose dynamics they reproduce."""
