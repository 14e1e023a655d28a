"""UNREAL's replay of recent experience: each env's last steps in time order, as plain tensors.

The buffer holds the last ``capacity`` steps of every one of N envs (a ring along time, all envs
written together, one rollout at a time): observations, actions, rewards, termination,
truncation, reset steps and episode starts, with the meanings of :class:`~advantage.data.batch.Rollout`.
Step t of an env is a *transition* when it is no reset step and its successor ``o_{t+1}`` is
stored and belongs to the same episode (``episode_start[t + 1]`` unset, which a gap between
rollouts sets too). Draws use torch's global generator, so a run that restores its RNG state and
this buffer (:meth:`state_dict`, tensors only) draws the same samples again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advantage.data.batch import Rollout

FIELDS = ("obs", "actions", "rewards", "terminated", "truncated", "reset_step", "episode_start")


@dataclass
class ReplaySequences:
    """Sequences drawn from the buffer: fields ``(L + 1, B, ...)``, ``o_L`` the bootstrap frame."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    episode_start: torch.Tensor
    valid: torch.Tensor
    """(L, B): step t is a transition to learn from (see the module docstring)."""


class Replay:
    """The last ``capacity`` steps of each of ``num_envs`` envs (see the module docstring)."""

    def __init__(self, capacity: int, num_envs: int) -> None:
        if capacity < 2:
            raise ValueError(f"replay capacity per env must be >= 2 steps, got {capacity}")
        self.capacity, self.num_envs = capacity, num_envs
        self.data: dict[str, torch.Tensor] | None = None
        self.pos = 0
        """Where the next step is written."""
        self.filled = 0
        self.gap = False
        """A rollout was left out (it came with other envs): the next step stored starts afresh."""

    def __len__(self) -> int:
        return self.filled

    def add(self, rollout: Rollout) -> None:
        """Append a rollout's T steps of every env (copied). A rollout of another env count (a Ray
        worker's rollout lost) is left out, and the steps on either side of it are not joined."""
        T, N = rollout.rewards.shape
        if N != self.num_envs:
            self.gap = True
            return
        if self.data is None:
            self.data = {
                name: torch.zeros(self.capacity, *getattr(rollout, name).shape[1:], dtype=getattr(rollout, name).dtype,
                                  device=rollout.rewards.device)
                for name in FIELDS
            }
        index = (self.pos + torch.arange(T)) % self.capacity
        for name in FIELDS:
            self.data[name][index] = getattr(rollout, name)
        if self.gap:
            self.data["episode_start"][index[0]] = True
            self.gap = False
        self.pos = (self.pos + T) % self.capacity
        self.filled = min(self.filled + T, self.capacity)

    def _times(self, logical: torch.Tensor) -> torch.Tensor:
        """Ring positions of logical times (0 the oldest stored step)."""
        return (self.pos - self.filled + logical) % self.capacity

    def sample_sequences(self, length: int, count: int) -> ReplaySequences:
        """``count`` sequences of ``length`` steps and the frame after, from uniformly drawn envs and starts."""
        if self.filled < length + 1:
            raise ValueError(f"the replay holds {self.filled} steps per env; a sequence needs {length + 1}")
        device = self.data["rewards"].device
        env = torch.randint(self.num_envs, (count,)).to(device)
        start = torch.randint(self.filled - length, (count,))
        times = self._times(start.view(1, -1) + torch.arange(length + 1).view(-1, 1)).to(device)  # (L + 1, B)
        pick = {name: self.data[name][times, env] for name in FIELDS}
        valid = ~pick["reset_step"][:-1] & ~pick["episode_start"][1:]
        return ReplaySequences(pick["obs"], pick["actions"], pick["rewards"], pick["terminated"], pick["truncated"],
                               pick["episode_start"], valid)

    def reward_frame_ends(self, frames: int) -> torch.Tensor:
        """(filled, N) bool: logical step t is no reset step (its reward ``r_t`` is real) and
        ends ``frames`` observations ``o_{t - frames + 1} .. o_t`` of one episode (no episode
        start after the first of them)."""
        times = self._times(torch.arange(self.filled))
        start = self.data["episode_start"][times]
        ok = ~self.data["reset_step"][times]
        ok[:frames - 1] = False
        for back in range(1, frames):
            ok[frames - 1:] &= ~start[frames - back:self.filled - back + 1]
        return ok

    def sample_reward_frames(self, frames: int, count: int, skew: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` stacks of ``frames`` consecutive observations ``(frames, B, ...)`` and the
        reward after each stack's last one ``(B,)``.

        Skewed: each draw ends at a rewarding step (r ≠ 0) with probability ``skew`` and at a
        zero-reward step otherwise, uniformly within its kind; when one kind is absent, all draws
        come from the other.
        """
        times = self._times(torch.arange(self.filled))
        rewards = self.data["rewards"][times]
        ends = self.reward_frame_ends(frames)
        pools = [(ends & (rewards != 0)).reshape(-1).nonzero().squeeze(1),
                 (ends & (rewards == 0)).reshape(-1).nonzero().squeeze(1)]
        if len(pools[0]) + len(pools[1]) == 0:
            raise ValueError(f"the replay holds no {frames} consecutive steps of one episode yet")
        rewarding = torch.rand(count, device=rewards.device) < skew
        if not len(pools[0]) or not len(pools[1]):
            rewarding.fill_(len(pools[1]) == 0)
        draws = [pool[torch.randint(len(pool), (count,), device=pool.device)] if len(pool) else pools[1 - k][:1].expand(count)
                 for k, pool in enumerate(pools)]
        flat = torch.where(rewarding, draws[0], draws[1])  # index into (filled, N) flattened
        end, env = flat // self.num_envs, flat % self.num_envs
        stack = self._times(end.view(1, -1) - torch.arange(frames - 1, -1, -1, device=end.device).view(-1, 1))
        return self.data["obs"][stack, env], rewards[end, env]

    def state_dict(self) -> dict[str, object]:
        """The stored steps oldest first (only those: a part-filled replay saves its part), as
        tensors and numbers that a weights-only checkpoint loads."""
        logical = self._times(torch.arange(self.filled))
        return {"capacity": self.capacity, "num_envs": self.num_envs, "filled": self.filled, "gap": self.gap,
                "data": None if self.data is None else {k: v[logical].clone() for k, v in self.data.items()}}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Continue from :meth:`state_dict`: the same steps in the same order, so draws repeat."""
        if (state["capacity"], state["num_envs"]) != (self.capacity, self.num_envs):
            raise ValueError(
                f"the checkpoint's replay holds {state['capacity']} steps of {state['num_envs']} envs, this run's "
                f"{self.capacity} of {self.num_envs}; resume with the run's replay_size and num_envs"
            )
        self.filled, self.gap = int(state["filled"]), bool(state["gap"])
        self.pos = self.filled % self.capacity
        self.data = None
        if state["data"] is not None:
            self.data = {k: torch.zeros(self.capacity, *v.shape[1:], dtype=v.dtype, device=v.device)
                         for k, v in state["data"].items()}
            for k, v in state["data"].items():
                self.data[k][:self.filled] = v
