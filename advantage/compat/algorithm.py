"""The update of a specification-style agent (:mod:`advantage.compat.agents`): its own
``backprop`` — one step of its own optimiser on the documented loss — on each rollout.

This is what lets ``A2CTrainer(envs, agent, val_envs, config)`` run the shared loop: the trainer
wraps the agent in an :class:`AgentAlgorithm`, and collection, returns, validation, metrics,
checkpoints and resume are those of every advantage run. The learning-rate schedule follows the
loop's environment steps; the optimiser's state and the schedule are checkpointed.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import torch
from gymnasium import spaces

from advantage.algorithms.a3c import flat_gradient, set_flat_gradient
from advantage.algorithms.base import Algorithm, explained_variance
from advantage.compat.agents import A2CModel
from advantage.data.batch import RolloutBatch, SequenceBatch


class AgentAlgorithm(Algorithm):
    """The agent's ``backprop``: a feed-forward agent's ``backprop(obs, returns, actions)`` on the
    kept transitions, a recurrent agent's over every env's whole rollout from its stored memory."""

    name = "a2c"
    default_returns = "nstep"

    def __init__(self, agent: A2CModel, total_steps: int | None = None) -> None:
        agent._optimiser()  # refuses an agent built without one
        self.model = self.agent = agent
        self.config = agent.config
        self.optimizer = agent.optimiser
        self.fix_schedule(total_steps)
        self.lr = agent.current_lr()

    def fix_schedule(self, total_steps: int | None) -> None:
        if self.agent.decay_steps is None:  # as for advantage's A2C: None means the run's budget
            self.agent.decay_steps = total_steps
        self.decay_steps = self.agent.decay_steps

    def set_progress(self, env_steps: int) -> float:
        self.lr = self.agent.set_progress(env_steps)
        return self.lr

    def update(self, batch: RolloutBatch | SequenceBatch) -> dict[str, float]:
        if isinstance(batch, SequenceBatch):
            flat, _ = batch.kept()
            loss = self.agent.backprop(
                batch.obs, batch.returns.reshape(-1), batch.actions.reshape(-1),
                (batch.memory[0:1], batch.memory[1:2]), batch.episode_start, keep=batch.keep.reshape(-1),
            )
            return self.metrics(loss, flat.values, flat.returns)
        loss = self.agent.backprop(batch.obs, batch.returns, batch.actions)
        return self.metrics(loss, batch.values, batch.returns)

    def metrics(self, loss: float, values: torch.Tensor, returns: torch.Tensor) -> dict[str, float]:
        """The loss, its terms (as the agent's last ``loss`` call left them) and explained variance."""
        terms = {name: value.item() for name, value in self.agent.loss_terms.items()}
        return {"loss": loss, **terms, "explained_variance": explained_variance(values, returns)}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "lr": self.lr, "schedule_steps": self.agent.schedule_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.agent.schedule_steps = state["schedule_steps"]
        self.lr = self.agent.set_progress(state["schedule_steps"])


class AgentA3CAlgorithm(AgentAlgorithm):
    """A feed-forward agent trained asynchronously: a worker's copy differentiates the agent's
    own loss (``batch_loss``, what ``backprop`` minimises) on its rollout; the learner applies that
    gradient with the agent's own optimiser, ``grad_clip`` and scheduled rate."""

    name = "a3c"

    def gradients(self, batch: RolloutBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The gradient of ``agent.batch_loss`` on the batch, flattened in ``parameters()`` order, and metrics."""
        loss = self.agent.batch_loss(batch.obs, batch.returns, batch.actions)
        self.check_finite({"loss": loss.detach(), **self.agent.loss_terms})
        self.agent.zero_grad(set_to_none=True)
        loss.backward()
        return flat_gradient(self.agent), self.metrics(loss.item(), batch.values, batch.returns)

    def apply_gradients(self, flat: torch.Tensor) -> float:
        """One step of the agent's optimiser with a worker's gradient, clipped to ``grad_clip``; returns its norm."""
        set_flat_gradient(self.agent, flat)
        return self.step()


    def worker_copy(self) -> AgentA3CAlgorithm:
        """This algorithm over a CPU copy of the agent, for a rollout worker's process (shipped
        by :class:`~advantage.training.distributed.workers.WorkerPool`)."""
        return AgentA3CAlgorithm(worker_copy(self.agent))


def worker_copy(agent: A2CModel) -> A2CModel:
    """A CPU copy of ``agent`` for a rollout worker's process, with a fresh optimiser of the same
    kind (workers never step it: the learner's state, on whatever device, stays behind)."""
    optimiser = agent._optimiser()
    copy = deepcopy(agent, memo={id(optimiser): None}).cpu()
    copy.device = torch.device("cpu")
    copy.optimiser = type(optimiser)(copy.parameters(), **optimiser.defaults)
    return copy


def as_algorithm(
    algorithm: Algorithm | A2CModel, recurrent: bool | None, trainer: str, envs: Any, total_steps: int,
    asynchronous: bool = False,
) -> Algorithm:
    """``algorithm`` itself, or a specification-style agent wrapped for the shared loop (checked
    first to be ``recurrent`` as the trainer's name promises, unless None, and against the envs'
    spaces); ``asynchronous`` wraps it for A3C."""
    if isinstance(algorithm, Algorithm):
        return algorithm
    if not isinstance(algorithm, A2CModel):
        raise TypeError(
            f"{trainer} trains an advantage Algorithm or an A2C agent (ActorCritic / ActorCritic_LSTM "
            f"built from a body network), got {type(algorithm).__name__}"
        )
    if recurrent is not None and algorithm.recurrent != recurrent:
        kind, wanted = ("recurrent", "A2CLSTMTrainer") if algorithm.recurrent else ("feed-forward", "A2CTrainer")
        raise TypeError(f"{trainer} cannot train {type(algorithm).__name__} (a {kind} agent); use {wanted}")
    if envs is not None:
        _check_spaces(algorithm, envs.single_observation_space, envs.single_action_space)
    if asynchronous:
        return AgentA3CAlgorithm(algorithm, total_steps)
    return AgentAlgorithm(algorithm, total_steps)


def _check_spaces(agent: A2CModel, observation_space: spaces.Space, action_space: spaces.Space) -> None:
    obs_shape = tuple(getattr(observation_space, "shape", None) or ())
    if not isinstance(action_space, spaces.Discrete) or int(action_space.n) != agent.action_size:
        raise ValueError(
            f"the agent has {agent.action_size} discrete actions but the envs' action space is "
            f"{action_space}; build it with action_size = env.single_action_space.n"
        )
    if torch.Size(obs_shape).numel() != torch.Size(agent.input_size).numel() or (
        len(agent.input_size) > 1 and obs_shape != agent.input_size
    ):
        raise ValueError(
            f"the agent takes input_size {agent.input_size} but the envs' observations have shape "
            f"{obs_shape}; build it with input_size = env.single_observation_space.shape"
        )
