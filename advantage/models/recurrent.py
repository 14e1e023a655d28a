"""Recurrent actor-critic: encoder → masked LSTM core → policy head and value head.

The LSTM state ``(h, c)`` is carried as one tensor of shape ``(2, B, cell_size)``, or
``(4, B, cell_size)`` (actor ``h, c`` then critic ``h, c``) when the critic has its own encoder
and LSTM (``ModelConfig.shared=False``, as in sb3-contrib's RecurrentPPO). Before the core reads
observation ``o_t`` it zeroes the state of every env whose ``episode_start[t]`` is set, i.e.
where ``o_t`` is the first observation of an episode:

    (h, c)_{t-1} ← (1 - episode_start_t) · (h, c)_{t-1};   y_t, (h, c)_t = LSTM(x_t, (h, c)_{t-1})

The state is the model's *memory* in the policy interface :class:`ActorCritic` also presents
(``initial_memory``, ``act(obs, episode_start, memory)``, ``value(obs, episode_start, memory)``).
Acting (:meth:`ActorCriticLSTM.act`, one step) and training (:meth:`ActorCriticLSTM.forward`,
whole sequences) apply this rule at the same step, so a training pass over a stored rollout with
its stored initial state and mask reproduces what was seen while acting.

The sequence pass needs no Python loop over time: ``ModelConfig.lstm_pass`` picks how the resets
inside a sequence meet ``nn.LSTM`` (one call over the episode pieces by default; see
:mod:`advantage.models.lstm`); ``ModelConfig.lstm_step`` how one step (acting) runs: one masked
``torch.lstm_cell`` per tower by default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from advantage.data.observations import is_image_space
from advantage.models.actor_critic import ModelConfig
from advantage.models.compiled_lstm import (
    Tape,
    compiled_lstm,
    kernel_error,
    lstm_backward,
    lstm_forward,
    runs_on,
)
from advantage.models.encoders import MLP
from advantage.models.heads import GaussianHead, make_head
from advantage.models.init import layer_init, reset_to_torch_defaults
from advantage.models.lstm import (
    episode_segments,
    episode_separators,
    lstm_layer,
    masked_cell,
    masked_lstm,
    reset_spans,
    segment_lstm,
    separator_lstm,
    step_lstm,
)
from advantage.models.multi_input import flat_obs_shape, make_encoder, make_obs_normalizer
from advantage.models.normalization import RewardScaler


def check_lstm_first(observation_space: spaces.Space, config: ModelConfig) -> None:
    """``model.lstm_first`` takes flat Box observations and MLP encoders: an LSTM on raw pixels or
    on a Dict's pieces is refused with the fix."""
    if not isinstance(observation_space, spaces.Box) or is_image_space(observation_space) or config.encoder == "cnn":
        shape = observation_space.shape
        raise ValueError(
            f"model.lstm_first takes Box observations read by an MLP (the LSTM reads them as they are); this env's "
            f"observations are {type(observation_space).__name__}{shape or ''}: drop model.lstm_first"
        )


@dataclass
class SequenceInputs:
    """A sequence pass's inputs that no parameter changes (:meth:`ActorCriticLSTM.sequence_inputs`):
    ``flat`` the normalised observations, flat (in the separators' padded slots for that pass);
    ``lead`` the ``(T, B)`` dims; ``path`` the pass that runs (``cell`` for one step); ``plan``
    where the resets cut for it (:class:`~advantage.models.lstm.Separators`,
    :class:`~advantage.models.lstm.Segments` or spans); ``keep`` the first step's mask (``cell``,
    ``separators``) or every step's, ``(T, B)`` (``compiled``)."""

    flat: torch.Tensor
    lead: torch.Size
    episode_start: torch.Tensor
    path: str
    plan: Any
    keep: torch.Tensor | None


def _last_dim(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``mlp`` over the last dim of ``x (..., C)``."""
    return mlp(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


class ActorCriticLSTM(nn.Module):
    """Recurrent actor-critic for the observation and action spaces :class:`ActorCritic` takes.

    With ``ModelConfig.shared`` one encoder and one LSTM serve both heads; otherwise the critic
    has its own encoder and LSTM, so the value loss cannot crowd the policy out of the memory.
    Image observations always share (one Nature CNN). ``cell_size`` overrides
    ``config.cell_size``. With ``config.lstm_first`` (Box observations) each LSTM reads the
    observation and each tower's MLP runs on its LSTM's output (``actor_post``, ``critic_post``),
    sb3-contrib's order; the features the heads read are then the MLPs' outputs.

    The specification's ``ActorCritic_LSTM(model, input_size, action_size, cell_size, config,
    ...)`` (a body network first) is another class, :class:`advantage.compat.ActorCritic_LSTM`
    (``advantage.ActorCritic_LSTM``).
    """

    recurrent = True

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        config: ModelConfig | None = None,
        cell_size: int | None = None,
    ) -> None:
        super().__init__()
        config = config or ModelConfig(policy="lstm")
        if cell_size is not None:
            config = dataclasses.replace(config, cell_size=cell_size)
        self.config = config
        if config.lstm_pass == "compiled" and (error := kernel_error()) is not None:
            raise ValueError(f"model.lstm_pass=compiled cannot run here ({error}): use lstm_pass=auto, which takes "
                             f"separators where compiled cannot run, or name another pass")
        self.obs_shape = flat_obs_shape(observation_space)
        self.obs_normalizer = make_obs_normalizer(observation_space) if config.normalize_obs else None
        self.reward_scaler = RewardScaler() if config.normalize_reward else None  # used by the trainer
        self.cell_size = config.cell_size
        if config.lstm_first:
            check_lstm_first(observation_space, config)
            encoder_config = dataclasses.replace(config, hidden_sizes=())  # the LSTM reads the observation
        else:
            encoder_config = config
        self.encoder, has_cnn = make_encoder(observation_space, encoder_config)
        self.lstm = lstm_layer(self.encoder.out_features, self.cell_size)
        self.critic_encoder: nn.Module | None = None
        self.critic_lstm: nn.LSTM | None = None
        if not (config.shared or has_cnn):
            self.critic_encoder = make_encoder(observation_space, encoder_config)[0]
            self.critic_lstm = lstm_layer(self.critic_encoder.out_features, self.cell_size)
        self.actor_post: MLP | None = None
        """With ``lstm_first``: the actor's MLP on its LSTM's output (the critic's own beside it,
        ``critic_post``, when the critic has its own LSTM)."""
        self.critic_post: MLP | None = None
        actor_width = critic_width = self.cell_size
        if config.lstm_first:
            self.actor_post = MLP((self.cell_size,), config.hidden_sizes, config.activation)
            actor_width = critic_width = self.actor_post.out_features
            if self.critic_lstm is not None:
                self.critic_post = MLP((self.cell_size,), config.hidden_sizes, config.activation)
                critic_width = self.critic_post.out_features
        self.head = make_head(actor_width, action_space)
        if isinstance(self.head, GaussianHead):
            self.head.log_std.data.fill_(config.log_std_init)
        self.value_head = layer_init(nn.Linear(critic_width, 1), std=1.0)
        if not config.ortho_init:
            reset_to_torch_defaults(self)

    def _towers(self) -> list[tuple[nn.Module, nn.LSTM]]:
        """``(encoder, lstm)`` of the actor, then of the critic when it has its own."""
        towers = [(self.encoder, self.lstm)]
        if self.critic_lstm is not None:
            towers.append((self.critic_encoder, self.critic_lstm))
        return towers

    def _apply(self, fn, *args, **kwargs):
        """Moves or casts the parameters (``to``, ``double``, ...), refusing a move that leaves an
        explicit ``lstm_pass=compiled`` unable to run (it runs float32 on the CPU)."""
        module = super()._apply(fn, *args, **kwargs)
        weight = self.value_head.weight
        if self.config.lstm_pass == "compiled" and not runs_on(weight.device, weight.dtype):
            raise ValueError(f"model.lstm_pass=compiled runs float32 on the CPU, not {weight.dtype} on {weight.device}: "
                             f"use lstm_pass=auto (separators there) or another pass")
        return module

    def sequence_pass(self) -> str:
        """The pass a sequence of more than one step takes: ``config.lstm_pass``, with auto resolved
        (compiled where it runs: float32 parameters on the CPU and a C compiler; else separators)."""
        path = self.config.lstm_pass
        if path == "auto":
            weight = self.value_head.weight
            path = "compiled" if runs_on(weight.device, weight.dtype) and kernel_error() is None else "separators"
        return path

    def initial_memory(self, num_envs: int) -> torch.Tensor:
        """The zero state of ``num_envs`` envs: ``(2 · towers, num_envs, cell_size)``."""
        weight = self.value_head.weight
        rows = 2 * len(self._towers())
        return torch.zeros(rows, num_envs, self.cell_size, dtype=weight.dtype, device=weight.device)

    def _inputs(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Size]:
        """Normalised observations flattened to ``(N, *obs_shape)``, and the leading dims."""
        lead = obs.shape[: obs.dim() - len(self.obs_shape)]
        obs = obs.reshape(-1, *self.obs_shape)
        if self.obs_normalizer is not None:
            obs = self.obs_normalizer(obs)
        return obs, lead

    def sequence_inputs(
        self, obs: torch.Tensor, episode_start: torch.Tensor, dtype: torch.dtype, final_state: bool = True
    ) -> SequenceInputs:
        """What a pass over sequences ``obs (T, B, ...)`` reads that no parameter changes: the
        normalised observations, laid out for the pass, and where the resets cut (see
        :meth:`_run`). An update that runs the same sequences every epoch computes it once
        (the statistics stay fixed during an update)."""
        flat, lead = self._inputs(obs)
        if episode_start.shape[0] == 1:  # one step (acting): the pass is not asked
            path = "cell" if self.config.lstm_step == "cell" else "spans"
        else:
            path = self.sequence_pass()
            if path in ("separators", "segments") and final_state:
                path = "spans"
        keep = plan = None
        if path == "cell":
            keep = (~episode_start[0]).to(dtype).unsqueeze(1)
        elif path == "compiled":
            keep = (~episode_start).to(dtype)
        elif path == "separators":  # the observations laid out once (no gradient), both towers' inputs
            plan = episode_separators(episode_start, dtype)
            flat = plan.pad(flat)
            keep = (~episode_start[0]).to(dtype).view(1, -1, 1)
        elif path == "segments":
            plan = episode_segments(episode_start, dtype)
        elif path == "spans":
            plan = reset_spans(episode_start, dtype)
        return SequenceInputs(flat, lead, episode_start, path, plan, keep)

    def lstm_outputs(
        self, inputs: SequenceInputs, state: torch.Tensor, select: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each tower's LSTM outputs ``(T, B, C)`` (``(N, C)`` at the flat time-major positions
        ``select``) over ``inputs`` from ``state``, and its final ``h, c`` (undefined for the
        ``separators`` and ``segments`` passes, which :meth:`sequence_inputs` picks only when
        no final state is asked for)."""
        path, plan = inputs.path, inputs.plan
        outputs, final = [], []
        for k, (encoder, lstm) in enumerate(self._towers()):
            x = encoder(inputs.flat)
            if path != "separators":
                x = x.reshape(*inputs.lead, -1)  # (T, B, F)
            h, c = state[2 * k : 2 * k + 1], state[2 * k + 1 : 2 * k + 2]
            if path == "cell":
                h, c = masked_cell(lstm, x[0], h[0], c[0], inputs.keep)
                out, h, c = h.unsqueeze(0), h.unsqueeze(0), c.unsqueeze(0)
            elif path == "compiled":
                out, h, c = compiled_lstm(lstm, x, h[0], c[0], inputs.keep)
                h, c = h.unsqueeze(0), c.unsqueeze(0)
            elif path == "separators":
                out = separator_lstm(lstm, x, h * inputs.keep, c * inputs.keep, plan, select)
            elif path == "segments":
                out = segment_lstm(lstm, x, h, c, plan, select)
            elif path == "spans":
                out, h, c = masked_lstm(lstm, x, h, c, plan)
            else:
                out, h, c = step_lstm(lstm, x, h, c, inputs.episode_start)
            if select is not None and out.dim() == 3:
                out = out.reshape(-1, out.shape[-1])[select]
            outputs.append(out)
            final += [h, c]
        return outputs, final

    def compiled_outputs(
        self, inputs: SequenceInputs, state: torch.Tensor, select: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[tuple[torch.Tensor, Tape]]]:
        """:meth:`lstm_outputs` of the ``compiled`` pass outside autograd (for a caller that takes
        the gradient itself, as PPO's closed form): each tower's outputs at the flat time-major
        positions ``select``, ``(N, C)``, and what :meth:`compiled_gradients` needs (the encoder's
        output, in autograd's graph where the encoder has parameters, and the kernel's tape)."""
        outputs, tapes = [], []
        for k, (encoder, lstm) in enumerate(self._towers()):
            with torch.enable_grad():
                x = encoder(inputs.flat).reshape(*inputs.lead, -1)
            y, _, _, tape = lstm_forward(x, inputs.keep, state[2 * k], state[2 * k + 1], lstm._flat_weights)
            outputs.append(y.view(-1, y.shape[-1]).index_select(0, select))
            tapes.append((x, tape))
        return outputs, tapes

    def compiled_gradients(
        self, tapes: list[tuple[torch.Tensor, Tape]], grads: list[torch.Tensor], select: torch.Tensor
    ) -> dict[torch.nn.Parameter, torch.Tensor]:
        """From ``∂L/∂`` each tower's outputs at ``select`` (:meth:`compiled_outputs`), the gradient of
        every LSTM and encoder parameter it reaches (the encoders' by autograd from ``∂L/∂x``)."""
        found: dict[torch.nn.Parameter, torch.Tensor] = {}
        for (encoder, lstm), (x, tape), grad in zip(self._towers(), tapes, grads):
            T, B, C = tape.cell.shape
            dy = grad.new_zeros(T * B, C).index_copy_(0, select, grad).view(T, B, C)
            dx, _, _, *weights = lstm_backward(tape, dy, input_grad=x.requires_grad)
            found |= dict(zip(lstm._flat_weights, weights))  # W_ih, W_hh, b_ih, b_hh
            if x.requires_grad:
                params = [p for p in encoder.parameters() if p.requires_grad]
                with torch.enable_grad():
                    found |= dict(zip(params, torch.autograd.grad(x, params, dx)))
        return found

    def _run(
        self, obs: torch.Tensor, episode_start: torch.Tensor, state: torch.Tensor, final_state: bool = True,
        select: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The actor's and critic's features the heads read, ``(T, B, C)`` (the LSTM outputs; with
        ``lstm_first`` each tower's MLP on them), of sequences ``obs (T, B, ...)`` from ``state``
        (only the flat time-major positions ``select``, ``(N, C)``, when given), and the state
        after the last step (None when ``final_state`` is False).

        ``episode_start (T, B)`` zeroes the state before the step where it is set. One step takes
        ``config.lstm_step`` (a masked ``torch.lstm_cell``, or ``layer``: one ``nn.LSTM`` call, as a
        one-step span); a sequence takes ``config.lstm_pass`` (see :mod:`advantage.models.lstm`),
        ``spans`` when the final state is asked for.
        """
        inputs = self.sequence_inputs(obs, episode_start, state.dtype, final_state)
        outputs, final = self.lstm_outputs(inputs, state, select)
        actor, critic = outputs[0], outputs[-1]
        if self.actor_post is not None:  # lstm_first: each tower's MLP on its LSTM's output
            actor = _last_dim(self.actor_post, actor)
            critic = actor if self.critic_post is None else _last_dim(self.critic_post, critic)
        return actor, critic, (torch.cat(final) if final_state else None)

    def core(
        self, obs: torch.Tensor, episode_start: torch.Tensor, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actor and critic features ``(T, B, C)`` of sequences ``obs (T, B, ...)`` from
        ``memory`` (see :meth:`_run`), and the memory after them: what the policy and value heads
        read (and UNREAL's auxiliary heads)."""
        return self._run(obs, episode_start, memory)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """The (actor's) encoder features ``(N, F)`` of a flat batch of observations, the LSTM's input."""
        return self.encoder(self._inputs(obs)[0])

    def forward(
        self,
        obs: torch.Tensor,
        episode_start: torch.Tensor,
        memory: torch.Tensor,
        index: torch.Tensor | None = None,
    ):
        """``(policy, value)`` at every step of sequences ``obs (T, B, ...)`` from ``memory``,
        flattened time-major (the training pass).

        ``index`` selects flat positions ``t * B + b`` (e.g. the transitions kept for learning)
        before the heads run. The policy has the form the losses accept as ``logit``.
        """
        if index is None:
            index = torch.arange(episode_start.numel(), device=episode_start.device)
        actor, critic, _ = self._run(obs, episode_start, memory, final_state=False, select=index)
        return self.head(actor), self.value_head(critic).squeeze(-1)

    @torch.inference_mode()
    def act(
        self,
        obs: torch.Tensor,
        episode_start: torch.Tensor,
        memory: torch.Tensor,
        deterministic: bool = False,
        action_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step for a batch: ``(action, value, packed policy parameters, next memory)``; only
        actions ``action_mask`` (B, mask size) allows are chosen."""
        actor, critic, state = self._run(obs.unsqueeze(0), episode_start.unsqueeze(0), memory)
        policy = self.head(actor[0])
        action = self.head.mode(policy, action_mask) if deterministic else self.head.sample(policy, action_mask)
        return action, self.value_head(critic[0]).squeeze(-1), self.head.pack(policy), state

    @torch.inference_mode()
    def value(self, obs: torch.Tensor, episode_start: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """``V`` of one step, without advancing anyone's memory (the rollout's bootstrap)."""
        _, critic, _ = self._run(obs.unsqueeze(0), episode_start.unsqueeze(0), memory, final_state=False)
        return self.value_head(critic[0]).squeeze(-1)


ActorCritic_LSTM = ActorCriticLSTM
"""The specification's name for advantage's recurrent model; the specification's agent of that
name (built from a body network) is :class:`advantage.compat.ActorCritic_LSTM`."""
