"""Fixed-length rollouts: T steps × N envs into preallocated tensors, then a flat learner batch.

The collector carries the last observation across rollouts, so consecutive rollouts continue the
same episodes, and bootstraps from ``V(s_T)``. Because Gymnasium's next-step autoreset hands the
agent the *final* observation of an episode before resetting, ``values[t + 1]`` is already the
value of the final observation when the episode ended at step t: it is exactly the bootstrap a
truncated episode needs, with no extra forward pass. The reset step that follows carries no
transition and is dropped from the batch.

Every model is driven the same way: the collector carries the model's *memory* (an LSTM's state;
empty for a feed-forward model) and the *episode-start mask* from step to step and across
rollouts, and stores both before each step, so a recurrent learner can replay the rollout.
When does an episode start? The step that ends an episode returns its final observation; the
agent acts on it once more (the reset step, whose action is ignored) and gets the reset
observation. So ``o_t`` starts an episode exactly when the step that produced it was a reset
step, or when it came from ``reset()``:

    episode_start_t = reset_step_{t-1}   (and True for the observations of ``reset()``)

A recurrent model zeroes its memory where the mask is set, while acting and in training alike;
the final observation is still read with the old episode's memory, which makes ``V(final obs)``
the right bootstrap for a truncated episode.
"""

from __future__ import annotations

import numpy as np
import torch

from advantage.data.batch import Rollout
from advantage.envs.vector import VecEnv
from advantage.models.sde import StateDependentNoiseHead, resample_due
from advantage.training.numpy_act import RecurrentNumpyActor, numpy_actor


def _torch_dtype(np_dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=np_dtype)).dtype


class RolloutCollector:
    """Steps ``envs`` with ``model`` for ``nsteps`` at a time into reused storage.

    ``memory`` and ``episode_start`` (N,) are what the next step will use; both are tensors, so a
    checkpoint can hold them.
    """

    def __init__(
        self, envs: VecEnv, model: torch.nn.Module, nsteps: int, device: torch.device, numpy_act: bool = False,
        lean_env_step: bool = False,
    ) -> None:
        self.envs, self.model, self.nsteps, self.device = envs, model, nsteps, device
        self.env_step = envs.step_lean if lean_env_step else envs.step
        """Steps the envs: :meth:`VecEnv.step_lean` (``trainer.lean_env_step``: the same results,
        without Gymnasium's generic batching where it applies) or :meth:`VecEnv.step`."""
        self.numpy_actor = numpy_actor(model, device) if numpy_act else None
        """Acts in numpy instead of ``model.act`` (``trainer.numpy_act``, where the model allows it:
        see :mod:`advantage.training.numpy_act`); None: the model's own ``act``."""
        self.sde_sample_freq = model.config.sde_sample_freq if isinstance(model.head, StateDependentNoiseHead) else None
        """gSDE heads draw new exploration matrices on this schedule (see :func:`resample_due`)."""
        T, N = nsteps, envs.num_envs
        space = envs.single_observation_space
        head = model.head
        zeros = lambda *shape, dtype=torch.float32: torch.zeros(shape, dtype=dtype, device=device)  # noqa: E731
        # What the env returns is written into numpy arrays (cheaper per step than tensor indexing)
        # and moved to the device once per rollout; on CPU the tensors share the arrays' memory.
        self._env_side = {
            "rewards": np.zeros((T, N), dtype=np.float32),
            "terminated": np.zeros((T, N), dtype=bool),
            "truncated": np.zeros((T, N), dtype=bool),
            "reset_step": np.zeros((T, N), dtype=bool),
        }
        self.storage = Rollout(
            obs=zeros(T, N, *space.shape, dtype=_torch_dtype(space.dtype)),
            actions=zeros(T, N, *head.action_shape, dtype=head.action_dtype),
            policy=zeros(T, N, head.policy_dim),
            values=zeros(T, N),
            **{name: torch.from_numpy(array).to(device) for name, array in self._env_side.items()},
            last_value=zeros(N),
            episode_start=zeros(T, N, dtype=torch.bool),
            memory=zeros(T, *model.initial_memory(N).shape),
        )
        self.obs: np.ndarray | None = None
        self.reset_memory()

    def reset_memory(self) -> None:
        """The model's initial memory; every env's next observation starts an episode."""
        N = self.envs.num_envs
        self.memory = self.model.initial_memory(N).to(self.device)
        self.episode_start = torch.ones(N, dtype=torch.bool, device=self.device)

    def reset(self, seed: int | None) -> None:
        self.obs = self.envs.reset(seed=seed)
        self.reset_memory()

    def collect(self) -> Rollout:
        """Fill the storage with the next ``nsteps`` steps of every env (and the action masks the
        env gave, which acting obeyed, when it masks actions)."""
        if self.obs is None:
            raise RuntimeError("call reset(seed) before collect()")
        s, device = self.storage, self.device
        if self.envs.action_mask is not None and s.action_mask is None:
            s.action_mask = torch.zeros(self.nsteps, *self.envs.action_mask.shape, dtype=torch.bool, device=device)
        cpu = device.type == "cpu"  # (then written through numpy views: cheaper per call than tensor indexing)
        if cpu:
            s.episode_start.numpy()[0] = self.episode_start.numpy()  # later steps' masks are the reset steps before them
        else:
            s.episode_start[0] = self.episode_start
        if self.numpy_actor is not None:
            self._collect_numpy()
        else:
            self._collect_torch()
        if cpu:
            s.episode_start.numpy()[1:] = self._env_side["reset_step"][:-1]
            s.last_obs = torch.from_numpy(self.obs.copy())  # the env may reuse its array
        else:
            for name, array in self._env_side.items():
                getattr(s, name).copy_(torch.from_numpy(array))
            s.episode_start[1:] = s.reset_step[:-1]
            s.last_obs = torch.from_numpy(self.obs).to(device, copy=True)
        s.last_episode_start = self.episode_start.clone()
        with torch.inference_mode():
            s.last_value.copy_(self.bootstrap_value(s.last_obs))
        return s

    def _collect_torch(self) -> None:
        """The rollout's steps with the model's own ``act``. On the CPU the storage rows are
        written through numpy views of the tensors (the same bits as tensor index-assigns, at a
        fraction of their per-call cost); a feed-forward model's empty memory is not stored."""
        s, head, device = self.storage, self.model.head, self.device
        rewards, terminated, truncated, reset_step = self._env_side.values()
        cpu = device.type == "cpu"
        if cpu:
            obs_s, actions_s, policy_s, values_s = (x.numpy() for x in (s.obs, s.actions, s.policy, s.values))
        store_memory = s.memory.numel() > 0
        for t in range(self.nsteps):
            obs = torch.from_numpy(self.obs)
            if cpu:
                obs_s[t] = self.obs  # before the step: an env may reuse its observation array
            else:
                obs = obs.to(device)
            mask = None if s.action_mask is None else torch.from_numpy(self.envs.action_mask).to(device)
            if store_memory:
                s.memory[t] = self.memory
            action, value, policy, self.memory = self.act(t, obs, mask)
            if mask is not None:
                s.action_mask[t] = mask
            step = self.env_step(head.to_env(action.cpu()))
            episode_start = torch.from_numpy(step.reset_step)
            self.episode_start = episode_start if cpu else episode_start.to(device)
            if cpu:
                actions_s[t], policy_s[t], values_s[t] = action.numpy(), policy.numpy(), value.numpy()
            else:
                s.obs[t] = obs
                s.actions[t] = action
                s.policy[t] = policy
                s.values[t] = value
            rewards[t], terminated[t] = step.reward, step.terminated
            truncated[t], reset_step[t] = step.truncated, step.reset_step
            self.obs = step.obs

    def _collect_numpy(self) -> None:
        """The rollout's steps with the numpy actor (on the CPU): the same storage filled through
        numpy views of it, one ``model.act`` replaced by numpy arithmetic per step (an LSTM model's
        memory stored before each step and advanced in place). gSDE's
        exploration matrices are redrawn on the torch path's schedule (the same draws); the env's
        action masks are stored and obeyed as there."""
        s, head, actor = self.storage, self.model.head, self.numpy_actor
        actor.refresh()
        rewards, terminated, truncated, reset_step = self._env_side.values()
        obs_s, actions, policy, values = (x.numpy() for x in (s.obs, s.actions, s.policy, s.values))
        masks = None if s.action_mask is None else s.action_mask.numpy()
        mask = None
        recurrent = isinstance(actor, RecurrentNumpyActor)
        if recurrent:  # the memory advances in place: a fresh tensor, so no earlier holder sees it move
            self.memory = self.memory.detach().clone(memory_format=torch.contiguous_format)
            memory, memory_s, starts = self.memory.numpy(), s.memory.numpy(), s.episode_start.numpy()
        for t in range(self.nsteps):
            obs_s[t] = self.obs
            if self.sde_sample_freq is not None and resample_due(t, self.sde_sample_freq):
                head.reset_noise(self.envs.num_envs)
            if masks is not None:
                mask = masks[t]
                mask[:] = self.envs.action_mask
            if recurrent:
                memory_s[t] = memory
                actor.act(self.obs, starts[0] if t == 0 else reset_step[t - 1], memory, actions[t], values[t],
                          policy[t], mask)
            else:
                actor.act(self.obs, actions[t], values[t], policy[t], mask)
            step = self.env_step(head.env_action(actions[t]))
            rewards[t], terminated[t] = step.reward, step.terminated
            truncated[t], reset_step[t] = step.truncated, step.reset_step
            self.obs = step.obs
        self.episode_start = torch.from_numpy(reset_step[-1].copy())

    def act(
        self, t: int, obs: torch.Tensor, action_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(action, value, packed policy, next memory)`` for step ``t``'s observations (legal
        actions only)."""
        if self.sde_sample_freq is not None and resample_due(t, self.sde_sample_freq):
            self.model.head.reset_noise(obs.shape[0])
        if action_mask is None:
            return self.model.act(obs, self.episode_start, self.memory)
        return self.model.act(obs, self.episode_start, self.memory, action_mask=action_mask)

    def bootstrap_value(self, obs: torch.Tensor) -> torch.Tensor:
        """``V(s_T)`` of the observations after the rollout (from the memory the next step will use)."""
        return self.model.value(obs, self.episode_start, self.memory)

    def pop_episodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths of the episodes finished since the last call."""
        return self.envs.pop_episodes()


