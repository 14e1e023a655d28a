"""Tiny custom environments for tests: masked actions, Dict observations, unusual action spaces.

Importing this module registers them (``ToyMasked-v0``, ...), as a user's own module would, so
``toy_envs:ToyMasked-v0`` is a valid ``module:EnvId`` id.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ILLEGAL_PENALTY = -1.0


class MaskedChoiceEnv(gym.Env):
    """Each step shows a target among ``n`` actions (one-hot) and allows only some actions.

    Reward 1 for choosing the target, 0 for another legal action; an illegal action ends the
    episode with a penalty of -1. Episodes last ``length`` steps. ``mask_via`` says how the legal
    actions are given: ``info`` (``info["action_mask"]``), ``method`` (``action_masks()``), or
    ``observation`` (a Dict observation with an ``action_mask`` key). ``illegal_total`` counts
    the illegal actions taken by every instance in this process; with ``strict`` an illegal
    action raises instead (for processes whose counters the test cannot read).
    """

    illegal_total = 0

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self, n: int = 4, length: int = 8, mask_via: str = "info", render_mode: str | None = None, strict: bool = False
    ) -> None:
        self.n, self.length, self.mask_via, self.render_mode, self.strict = n, length, mask_via, render_mode, strict
        target_space = spaces.Box(0.0, 1.0, (n,), np.float32)
        if mask_via == "observation":
            self.observation_space = spaces.Dict({"target": target_space, "action_mask": spaces.MultiBinary(n)})
        else:
            self.observation_space = target_space
        self.action_space = spaces.Discrete(n)

    def _draw(self) -> None:
        self.target = int(self.np_random.integers(self.n))
        self.mask = self.np_random.random(self.n) < 0.4  # about 60% of the actions are illegal
        self.mask[self.target] = True

    def _obs(self):
        one_hot = np.eye(self.n, dtype=np.float32)[self.target]
        if self.mask_via == "observation":
            return {"target": one_hot, "action_mask": self.mask.astype(np.int8)}
        return one_hot

    def _info(self) -> dict:
        return {"action_mask": self.mask.copy()} if self.mask_via == "info" else {}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self._draw()
        return self._obs(), self._info()

    def step(self, action):
        action = int(action)
        self.t += 1
        if not self.mask[action]:
            if self.strict:
                raise ValueError(f"illegal action {action} (legal: {np.flatnonzero(self.mask).tolist()})")
            MaskedChoiceEnv.illegal_total += 1
            return self._obs(), ILLEGAL_PENALTY, True, False, self._info()
        reward = 1.0 if action == self.target else 0.0
        self._draw()
        return self._obs(), reward, False, self.t >= self.length, self._info()

    def render(self):
        frame = np.zeros((16, 16 * self.n, 3), dtype=np.uint8)
        frame[:, 16 * self.target:16 * (self.target + 1)] = 255
        return frame


class MaskedMethodEnv(MaskedChoiceEnv):
    """:class:`MaskedChoiceEnv` with sb3-contrib's ``action_masks()`` method as its mask."""

    def __init__(self, **kwargs) -> None:
        super().__init__(mask_via="method", **kwargs)

    def action_masks(self) -> np.ndarray:
        return self.mask.copy()


class ImageVectorEnv(gym.Env):
    """One-step episodes with a Dict observation: an 8×8 RGB image (all dark or all bright) and a
    2-vector. The rewarded action is ``bright XOR (vec[0] > 0)``, so both parts must be read."""

    def __init__(self, channels_last: bool = True) -> None:
        shape = (8, 8, 3) if channels_last else (3, 8, 8)
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, shape, np.uint8),
            "vec": spaces.Box(-1.0, 1.0, (2,), np.float32),
        })
        self.action_space = spaces.Discrete(2)

    def _obs(self):
        self.bright = bool(self.np_random.integers(2))
        vec = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.sign = bool(vec[0] > 0)
        image = np.full(self.observation_space["image"].shape, 200 if self.bright else 20, dtype=np.uint8)
        return {"image": image, "vec": vec}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        reward = 1.0 if int(action) == int(self.bright != self.sign) else 0.0
        return self._obs(), reward, True, False, {}


class ShiftedDiscreteEnv(gym.Env):
    """Actions ``Discrete(3, start=-1)``: reward ``action`` (so +1 is best); ``out_of_space``
    counts actions outside the space."""

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Discrete(3, start=-1)
        self.out_of_space = 0
        self.seen: set[int] = set()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        self.seen.add(int(action))
        if not self.action_space.contains(np.int64(action)):
            self.out_of_space += 1
        return np.zeros(2, np.float32), float(action), False, self.t >= 16, {}


class CopyBitsEnv(gym.Env):
    """MultiBinary(4) actions: copy the observed bits; reward = fraction of bits copied right."""

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, (4,), np.float32)
        self.action_space = spaces.MultiBinary(4)

    def _obs(self):
        self.bits = self.np_random.integers(0, 2, 4)
        return self.bits.astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        if not self.action_space.contains(np.asarray(action, dtype=np.int8)):
            raise ValueError(f"action {action} is not in {self.action_space}")
        reward = float(np.mean(np.asarray(action) == self.bits))
        self.t += 1
        return self._obs(), reward, False, self.t >= 8, {}


gym.register("ToyMasked-v0", entry_point=f"{__name__}:MaskedChoiceEnv")
gym.register("ToyMaskedMethod-v0", entry_point=f"{__name__}:MaskedMethodEnv")
gym.register("ToyImageVector-v0", entry_point=f"{__name__}:ImageVectorEnv")
gym.register("ToyShifted-v0", entry_point=f"{__name__}:ShiftedDiscreteEnv")
gym.register("ToyCopyBits-v0", entry_point=f"{__name__}:CopyBitsEnv")
