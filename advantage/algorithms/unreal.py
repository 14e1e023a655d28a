"""UNREAL: A2C with unsupervised auxiliary tasks (Jaderberg et al. 2016).

A CNN-LSTM actor-critic learns A2C's loss on each rollout (whole env sequences, n-step returns)
and, from a small replay of recent experience, three auxiliary losses that shape its features:

    a2c_loss + λ_PC · L_PC + λ_RP · L_RP + λ_VR · L_VR

- pixel control (``L_PC``): n-step Q-learning, with γ_PC, of how much the agent can change the
  pixels (scaled to [0, 1], as the CNN reads them) in each cell of a grid over the frame, from a dueling deconvolution head on the LSTM
  output (:func:`~advantage.losses.unreal.pixel_control_error`);
- reward prediction (``L_RP``): the sign of the next reward from the encoder features of the last
  ``k`` frames, drawn with half the stacks ending in a non-zero reward
  (:func:`~advantage.losses.unreal.reward_prediction_error`);
- value function replay (``L_VR``): the value head regressed on n-step returns of replayed
  sequences, bootstrapped from the current value of each sequence's last frame
  (:func:`~advantage.losses.unreal.value_replay_error`).

Pixel control and value replay read the same replayed sequences (one LSTM pass, from a zero state
at each sequence's first frame, as the paper's implementation). The policy is the plain
:class:`~advantage.models.recurrent.ActorCriticLSTM`; the auxiliary heads live here, beside it,
and a task of weight 0 builds neither its head nor its replay work (with all three at 0 there is
no replay and this is A2C). The LSTM sees the last action and reward when the env gives them
(:mod:`advantage.envs.last_action_reward`). The replay is filed by the algorithm's estimator as
each rollout is estimated, and saved in :meth:`state_dict` as tensors.

Locally (``distributed = "local"``) UNREAL runs the synchronous A2C loop, as the specification's
``A2CLSTMTrainer`` does. On Ray it runs as the paper trains it, A3C-style: each worker keeps its own
replay of ``replay_size`` steps, computes the gradient of the whole loss (:meth:`gradients`) on its
rollout and replay, and the learner applies each gradient as it arrives (:meth:`apply_gradients`),
sending that worker the new weights of the model and the heads. The learner holds no replay there,
so a resumed Ray run starts with empty worker replays (as its envs start new episodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from advantage.algorithms.a2c import A2CConfig
from advantage.algorithms.a3c import A3CAlgorithm
from advantage.algorithms.base import model_outputs
from advantage.algorithms.spec import AlgorithmSpec
from advantage.data.batch import Rollout, SequenceBatch
from advantage.data.estimators import Estimate, Estimator
from advantage.data.replay import Replay, ReplaySequences
from advantage.data.returns import nstep_returns
from advantage.losses.unreal import (
    pixel_change_rewards,
    pixel_control_data,
    pixel_control_error,
    pixel_control_returns,
    reward_prediction_data,
    reward_prediction_error,
    value_replay_data,
    value_replay_error,
)
from advantage.models.heads import CategoricalHead
from advantage.models.unreal_heads import PixelControlHead, image_view, reward_prediction_head


@dataclass
class UNREALConfig(A2CConfig):
    """A2C's hyperparameters and UNREAL's: a weight per auxiliary task (0 turns it off), the replay,
    pixel control's cells and discount, reward prediction's frames and skew."""

    pixel_control_weight: float = 0.05
    """λ_PC; the paper draws it from [0.01, 0.1]. 0: no pixel-control head."""
    reward_prediction_weight: float = 1.0
    """λ_RP. 0: no reward-prediction head."""
    value_replay_weight: float = 1.0
    """λ_VR. 0: no value replay."""
    replay_size: int = 32_000
    """Steps the replay keeps, over all envs (each env keeps its last ``replay_size // num_envs``);
    the paper keeps 2,000 per actor thread."""
    replay_sequence_length: int = 20
    """Steps of each replayed sequence for pixel control and value replay (the paper's 20)."""
    replay_batch: int = 4
    """Sequences (pixel control, value replay) and frame stacks (reward prediction) per update:
    4 × 20 steps replayed beside A2C's 16 envs × 5 steps, the paper's one replayed step per
    on-policy step."""
    pixel_control_cell_size: int = 4
    """Side of the grid's square cells in pixels (the paper's 4 on 84×84 frames)."""
    pixel_control_gamma: float = 0.9
    """Discount of the pixel-control Q-learning."""
    reward_prediction_frames: int = 3
    """Frames stacked to predict the next reward (the paper's 3)."""
    reward_prediction_skew: float = 0.5
    """Probability that a drawn stack ends in a non-zero reward (the paper's 0.5)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("pixel_control_weight", "reward_prediction_weight", "value_replay_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0 (0 turns the task off), got {getattr(self, name)}")
        for name in ("replay_sequence_length", "replay_batch", "pixel_control_cell_size", "reward_prediction_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.replay_size < self.replay_sequence_length + 1:
            raise ValueError(f"replay_size ({self.replay_size}) must hold a sequence of replay_sequence_length + 1 "
                             f"({self.replay_sequence_length + 1}) steps")
        if not 0 <= self.pixel_control_gamma < 1:
            raise ValueError(f"pixel_control_gamma must be in [0, 1), got {self.pixel_control_gamma}")
        if not 0 <= self.reward_prediction_skew <= 1:
            raise ValueError(f"reward_prediction_skew must be in [0, 1], got {self.reward_prediction_skew}")

    @property
    def replays(self) -> bool:
        """Whether any auxiliary task is on (then there is a replay)."""
        return any(w > 0 for w in (self.pixel_control_weight, self.reward_prediction_weight, self.value_replay_weight))


class ReplayRecorder(Estimator):
    """The algorithm's estimator: files each rollout in UNREAL's replay, then estimates it with
    the estimator it wraps (the trainer's ``returns`` setting)."""

    def __init__(self, inner: Estimator, algorithm: UNREALAlgorithm) -> None:
        super().__init__(inner.gamma, inner.lambda_)
        self.inner, self.algorithm = inner, algorithm
        self.name = inner.name

    def __call__(self, rollout: Rollout, model: nn.Module | None = None) -> Estimate:
        self.algorithm.record(rollout)
        return self.inner(rollout, model)

    def __repr__(self) -> str:
        return f"ReplayRecorder({self.inner!r})"


class UNREALAlgorithm(A3CAlgorithm):
    """A2C's update on the rollout plus the auxiliary losses on replayed experience, one step; split,
    as A3C's, into a worker half (:meth:`gradients`) and a learner half (:meth:`apply_gradients`)."""

    name = "unreal"

    def __init__(
        self, model: nn.Module, config: UNREALConfig, total_steps: int | None = None, estimator: Estimator | None = None,
    ) -> None:
        if not getattr(model, "recurrent", False) or not hasattr(model, "core"):
            raise ValueError("UNREAL needs the LSTM actor-critic (model.policy = 'lstm')")
        if not isinstance(model.head, CategoricalHead):
            raise ValueError(f"UNREAL supports Discrete actions (pixel control learns a Q per action), not {type(model.head).__name__}")
        view = image_view(model.encoder, model.obs_shape)
        if view is None:
            raise ValueError("UNREAL needs image observations, or Dict observations with an image part (pixel control "
                             "and reward prediction read frames); this env's observations hold no image")
        self.image, (_, height, width) = view
        cell = config.pixel_control_cell_size
        if config.pixel_control_weight > 0 and cell > min(height, width):
            raise ValueError(f"pixel_control_cell_size {cell} is larger than the {height}x{width} image; "
                             f"choose at most {min(height, width)}")
        self.heads = nn.ModuleDict()
        if config.pixel_control_weight > 0:
            self.heads["pixel_control"] = PixelControlHead(
                model.cell_size, model.head.policy_dim, (height // cell, width // cell))
        if config.reward_prediction_weight > 0:
            self.heads["reward_prediction"] = reward_prediction_head(
                model.encoder.out_features, config.reward_prediction_frames)  # the LSTM's input width
        self.heads.to(next(model.parameters()).device)
        self._trained_module = nn.ModuleDict({"model": model, "aux": self.heads})
        self.replay: Replay | None = None
        self.gamma = 0.99
        """The trainer's discount (set with the estimator), for value replay's returns."""
        super().__init__(model, config, total_steps, estimator)

    def named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [*self.model.named_parameters(), *(("aux." + n, p) for n, p in self.heads.named_parameters())]

    @property
    def trained_module(self) -> nn.Module:
        """The model and the auxiliary heads, in :meth:`named_parameters`' order."""
        return self._trained_module

    def make_value_estimator(self, returns: str, gamma: float, lambda_: float) -> Estimator:
        """The trainer's estimator, wrapped to file every rollout in the replay (when one is needed)."""
        if isinstance(self.estimator, ReplayRecorder):  # wrapped already: unwrap to check the setting again
            self.estimator = self.estimator.inner
        inner = super().make_value_estimator(returns, gamma, lambda_)
        self.gamma = gamma
        self.estimator = ReplayRecorder(inner, self) if self.config.replays else inner
        return self.estimator

    def record(self, rollout: Rollout) -> None:
        """Append a rollout to the replay (made for its env count at the first)."""
        if self.replay is None:
            n = rollout.rewards.shape[1]
            self.replay = Replay(max(self.config.replay_size // n, 2), n)
        self.replay.add(rollout)

    def update(self, batch: SequenceBatch) -> dict[str, float]:
        total, terms, metrics = self.loss(batch)
        metrics["grad_norm"] = self.optimize(total, terms)
        return metrics

    def loss(self, batch: SequenceBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, float]]:
        """A2C's loss on the rollout's sequences plus the auxiliary losses on the replay: what
        :meth:`update` steps on, and what a Ray worker's :meth:`gradients` differentiate."""
        total, terms, metrics = self.loss_on(*model_outputs(self.model, batch))
        aux_total, aux_terms, aux_metrics = self.auxiliary_losses()
        metrics.update(aux_metrics)
        return (total + aux_total if aux_terms else total), {**terms, **aux_terms}, metrics

    def auxiliary_losses(self) -> tuple[torch.Tensor | float, dict[str, torch.Tensor], dict[str, float]]:
        """``(Σ λ_i L_i, the terms, metrics)`` of the tasks that are on, once the replay holds a
        whole sequence (before that: none)."""
        cfg, replay = self.config, self.replay
        length = cfg.replay_sequence_length
        if replay is None or len(replay) < length + 1:
            return 0.0, {}, {}
        terms: dict[str, torch.Tensor] = {}
        if cfg.pixel_control_weight > 0 or cfg.value_replay_weight > 0:
            terms.update(self.sequence_losses(replay.sample_sequences(length, cfg.replay_batch)))
        if cfg.reward_prediction_weight > 0:
            stacks, rewards = replay.sample_reward_frames(cfg.reward_prediction_frames, cfg.replay_batch,
                                                          cfg.reward_prediction_skew)
            k, b = stacks.shape[:2]
            features = self.model.features(stacks.reshape(k * b, *stacks.shape[2:])).reshape(k, b, -1)
            logits = self.heads["reward_prediction"](features.transpose(0, 1).reshape(b, -1))
            rp = reward_prediction_error(reward_prediction_data(logits, rewards, None))
            terms["reward_prediction_loss"] = rp.reward_prediction_loss
            accuracy = rp.accuracy.item()
        weights = {"pixel_control_loss": cfg.pixel_control_weight, "value_replay_loss": cfg.value_replay_weight,
                   "reward_prediction_loss": cfg.reward_prediction_weight}
        total = sum(weights[name] * term for name, term in terms.items())
        metrics = {name: term.item() for name, term in terms.items()}
        if "reward_prediction_loss" in terms:
            metrics["reward_prediction_accuracy"] = accuracy
        return total, terms, metrics

    def sequence_losses(self, seq: ReplaySequences) -> dict[str, torch.Tensor]:
        """Pixel control and value replay on replayed sequences (L + 1 frames, the last the bootstrap)."""
        cfg = self.config
        start = seq.episode_start.clone()
        start[0] = True  # each sequence starts from a zero LSTM state
        actor, critic, _ = self.model.core(seq.obs, start, self.model.initial_memory(start.shape[1]))
        valid = seq.valid
        terminated, truncated = seq.terminated[:-1], seq.truncated[:-1]
        terms = {}
        if cfg.value_replay_weight > 0:
            values = self.model.value_head(critic).squeeze(-1)  # (L + 1, B)
            returns = nstep_returns(seq.rewards[:-1], values[1:].detach(), terminated, truncated, self.gamma)
            terms["value_replay_loss"] = value_replay_error(value_replay_data(values[:-1][valid], returns[valid], None)) \
                .value_replay_loss if valid.any() else values.sum() * 0.0
        if cfg.pixel_control_weight > 0:
            q = self.heads["pixel_control"](actor)  # (L + 1, B, n, gh, gw)
            frames = self.image(seq.obs).float() / 255.0  # as the CNN sees them: pixels in [0, 1], as the paper's
            rewards = pixel_change_rewards(frames, cfg.pixel_control_cell_size)
            returns = pixel_control_returns(rewards, q[1:].detach().max(dim=2).values, terminated, truncated,
                                            cfg.pixel_control_gamma)
            terms["pixel_control_loss"] = pixel_control_error(pixel_control_data(
                q[:-1][valid], seq.actions[:-1][valid], returns[valid], None)).pixel_control_loss \
                if valid.any() else q.sum() * 0.0
        return terms

    def state_dict(self) -> dict[str, Any]:
        """A2C's state, the auxiliary heads' weights and the replay (tensors and numbers only)."""
        return {**super().state_dict(), "heads": self.heads.state_dict(),
                "replay": None if self.replay is None else self.replay.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.heads.load_state_dict(state["heads"])
        replay = state.get("replay")
        if replay is None:
            self.replay = None
        else:
            self.replay = Replay(int(replay["capacity"]), int(replay["num_envs"]))
            self.replay.load_state_dict(replay)


SPEC = AlgorithmSpec(
    name="unreal", api_name="UNREAL",
    summary="UNREAL: A2C on an LSTM actor-critic with pixel-control, reward-prediction and value-replay auxiliary tasks.",
    config=UNREALConfig, algorithm=UNREALAlgorithm, policies=("lstm",), action_spaces=("discrete",), ray_gradients=True,
)
