"""The masked LSTM both recurrent model families use: an ``nn.LSTM`` whose state is zeroed where an episode starts.

For sequences ``x (T, B, F)`` with episode-start masks ``(T, B)`` every path computes

    (h, c)_{t-1} ← (1 - episode_start_t) · (h, c)_{t-1};   y_t, (h, c)_t = LSTM(x_t, (h, c)_{t-1})

``nn.LSTM`` runs a whole sequence in one fused call but cannot reset its state inside it; four
ways around that, chosen by ``ModelConfig.lstm_pass`` (``benchmarks/lstm_core_timing.py`` times
them), and a fifth that does not use ``nn.LSTM`` at all, ``compiled`` (the recurrence as one
compiled loop with the resets inside it: :mod:`advantage.models.compiled_lstm`); ``auto`` takes
``compiled`` where it runs (float32 on a CPU with a C compiler) and ``separators`` elsewhere:

- ``steps``: the equation above one step at a time (``torch.lstm_cell``), the readable reference;
- ``spans``: cut the time axis at every step where *any* sequence starts an episode, one
  ``nn.LSTM`` call per span between cuts, its entry state masked;
- ``segments``: cut every sequence into its episode pieces once, lay the pieces side by side as
  one padded batch ``(longest piece, pieces, F)``, each from its own entry state (zero, or the
  stored state for a piece that continues an episode from before the sequence), and make ONE
  ``nn.LSTM`` call; the outputs are gathered back to ``(T, B)``. Padding sits after each piece's
  last step, so it never reaches a kept output. It returns no final state (a padded piece's last
  state is not its own); a caller that needs the state after a multi-step sequence gets ``spans``.
- ``separators``: keep every sequence in its own column and insert one *separator* step before
  each episode start inside it; ONE fused call over the ``(T + most starts in a column, B)``
  batch. The separator's input is an extra feature, 1 there and 0 elsewhere, whose weights are
  ``CLOSE`` (−10⁴) into the input and forget gates and 0 into the others, so at a separator
  ``i = f = σ(−10⁴ + …) = 0`` in float32 and

      c = f · c_prev + i · g = 0,   h = o · tanh(c) = 0:

  the next step starts from the zero state, and no gradient crosses the separator (σ' = 0 there,
  ∂c/∂c_prev = f = 0). It costs one extra step per start instead of ``segments``' extra rows (one
  per piece, each padded to the longest): ~1.3x faster at one start per 20 steps, the same
  without starts. Like ``segments`` it returns no final state (padding follows the shorter
  columns' last steps).

A single step (acting, the rollout's bootstrap value) takes ``ModelConfig.lstm_step``: ``cell``,
one masked ``torch.lstm_cell`` (:func:`masked_cell`: the layer's weights without the module's
per-call overhead), or ``layer``, one ``nn.LSTM`` call on a length-1 sequence from the masked
state (the path before either existed). Both compute the same step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

LSTM_PASSES = ("auto", "compiled", "separators", "segments", "spans", "steps")
LSTM_STEPS = ("cell", "layer")


def reset_spans(episode_start: torch.Tensor, dtype: torch.dtype) -> list[tuple[int, int, torch.Tensor]]:
    """``(begin, end, keep)`` for each span of steps between episode starts of ``(T, B)`` masks.

    The time axis is cut at every step (after the first) where some sequence starts an episode;
    ``keep (1, B, 1)`` is 0 for the sequences whose state is zeroed at the span's first step.
    """
    T = episode_start.shape[0]
    cuts = [] if T == 1 else episode_start[1:].any(dim=1).nonzero().squeeze(1).add(1).tolist()
    return [
        (begin, end, (~episode_start[begin]).to(dtype).view(1, -1, 1))
        for begin, end in zip([0, *cuts], [*cuts, T])
    ]


@dataclass
class Segments:
    """Episode pieces of ``(T, B)`` sequences laid side by side: ``S`` pieces, the longest ``L`` steps.

    ``gather (L * S,)``: the time-major flat position ``t * B + b`` each padded slot reads (0 for
    padding); ``scatter (T * B,)``: the padded slot ``i * S + s`` that holds step ``(t, b)``;
    ``env (S,)``: the sequence each piece comes from; ``carry (1, S, 1)``: 1 for a piece that
    continues the stored state (it begins at ``t = 0`` without an episode start), else 0.
    """

    length: int
    count: int
    gather: torch.Tensor
    scatter: torch.Tensor
    env: torch.Tensor
    carry: torch.Tensor


def episode_segments(episode_start: torch.Tensor, dtype: torch.dtype) -> Segments:
    """The episode pieces of ``(T, B)`` masks, computed with tensor ops (no loop over time)."""
    T, B = episode_start.shape
    device = episode_start.device
    begins = episode_start.t().clone()  # (B, T): env-major, so one env's pieces are consecutive
    begins[:, 0] = True
    flat = begins.reshape(-1)
    piece = flat.long().cumsum(0) - 1  # piece id of every env-major step
    first = flat.nonzero().squeeze(1)  # env-major position of each piece's first step
    count = first.numel()
    position = torch.arange(B * T, device=device) - first[piece]  # step within its piece
    lengths = torch.bincount(piece, minlength=count)
    length = int(lengths.max())
    env, t0 = first // T, first % T
    i = torch.arange(length, device=device).unsqueeze(1)  # (L, 1)
    gather = torch.where(i < lengths, (t0 + i) * B + env, torch.zeros((), dtype=torch.long, device=device))
    scatter = (position * count + piece).view(B, T).t().reshape(-1)  # time-major
    carry = ((t0 == 0) & ~episode_start[0, env]).to(dtype).view(1, -1, 1)
    return Segments(length, count, gather.reshape(-1), scatter, env, carry)


def segment_lstm(
    lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, segments: Segments,
    select: torch.Tensor | None = None,
) -> torch.Tensor:
    """Outputs ``(T, B, C)`` of ``lstm`` over ``x (T, B, F)`` from ``(h, c) (1, B, C)`` in one
    ``nn.LSTM`` call over the episode pieces ``segments``; with ``select``, only the flat
    time-major positions it lists, ``(N, C)`` (one gather instead of two)."""
    T, B, F = x.shape
    s = segments
    padded = x.reshape(T * B, F).index_select(0, s.gather).view(s.length, s.count, F)
    h0 = (h.index_select(1, s.env) * s.carry).contiguous()
    c0 = (c.index_select(1, s.env) * s.carry).contiguous()
    out, _ = lstm(padded, (h0, c0))
    out = out.reshape(s.length * s.count, -1)
    if select is not None:
        return out.index_select(0, s.scatter[select])
    return out.index_select(0, s.scatter).view(T, B, -1)


CLOSE = -1.0e4
"""The separator feature's weight into the input and forget gates: σ(−10⁴ + w·h + b) is 0
in float32 and bfloat16 for any bounded ``h`` and moderate weights."""


@dataclass
class Separators:
    """``(T, B)`` sequences with a separator step before every episode start after ``t = 0``:
    ``length`` steps per column; ``steps (T * B,)`` the flat padded slot ``t' * B + b`` of each
    time-major step ``(t, b)``; ``flags (length * B, 1)`` the separator feature, 1 at the
    separator steps and 0 elsewhere."""

    length: int
    steps: torch.Tensor
    flags: torch.Tensor

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Time-major flat rows ``x (T * B, ...)`` laid out in the padded slots ``(length * B, ...)``,
        zeros at the separators and after each column's last step."""
        return x.new_zeros(self.flags.shape[0], *x.shape[1:]).index_copy(0, self.steps, x)


def episode_separators(episode_start: torch.Tensor, dtype: torch.dtype) -> Separators:
    """Where the steps and the separators of ``(T, B)`` masks go: step ``(t, b)`` moves down by
    the number of starts in column ``b`` at ``1..t``, and a separator sits just above each start."""
    T, B = episode_start.shape
    inside = episode_start.clone()
    inside[0] = False
    shift = inside.long().cumsum(0)
    column = torch.arange(B, device=episode_start.device)
    slot = (torch.arange(T, device=episode_start.device).unsqueeze(1) + shift) * B + column  # (T, B)
    length = T + int(shift[-1].max())
    flags = torch.zeros(length * B, 1, dtype=dtype, device=episode_start.device)
    flags[(slot - B)[inside]] = 1.0
    return Separators(length, slot.reshape(-1), flags)


@functools.cache
def _closing_column(cell_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The separator feature's weights ``(4C, 1)``: CLOSE into the input and forget gates (torch's
    gate order i, f, g, o), 0 into the others. Read only (``torch.cat`` copies it)."""
    column = torch.zeros(4 * cell_size, 1, dtype=dtype, device=device)
    column[: 2 * cell_size] = CLOSE
    return column


def separator_lstm(
    lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, layout: Separators,
    select: torch.Tensor | None = None,
) -> torch.Tensor:
    """Outputs ``(T, B, C)`` of ``lstm`` over inputs already in ``layout``'s padded slots
    (``x (length * B, F)``, :meth:`Separators.pad`) from ``(h, c) (1, B, C)`` (masked by the
    caller) in one fused LSTM call over the columns with their separator steps; with ``select``,
    only the flat time-major positions it lists, ``(N, C)``."""
    B, C = h.shape[1], lstm.hidden_size
    weight_ih, *rest = lstm._flat_weights
    out = torch.lstm(
        torch.cat([x, layout.flags], 1).view(layout.length, B, -1), (h.contiguous(), c.contiguous()),
        [torch.cat([weight_ih, _closing_column(C, weight_ih.dtype, weight_ih.device)], 1), *rest],
        lstm.bias, 1, 0.0, lstm.training, False, False,
    )[0].reshape(layout.length * B, C)
    if select is not None:
        return out.index_select(0, layout.steps[select])
    return out.index_select(0, layout.steps).view(-1, B, C)


def masked_cell(lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, keep: torch.Tensor):
    """One step of ``lstm``'s layer from the state masked by ``keep (B, 1)`` (0 where an episode
    starts): ``x (B, F)``, ``(h, c) (B, C)``."""
    return torch.lstm_cell(x, (h * keep, c * keep), lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)


def step_lstm(
    lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, episode_start: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reference: ``lstm`` over ``x (T, B, F)`` one masked step at a time from ``(h, c) (1, B, C)``."""
    h, c = h[0], c[0]
    outputs = []
    for t in range(x.shape[0]):
        h, c = masked_cell(lstm, x[t], h, c, (~episode_start[t]).to(h.dtype).unsqueeze(1))
        outputs.append(h)
    return torch.stack(outputs), h.unsqueeze(0), c.unsqueeze(0)


def masked_lstm(
    lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, spans: list[tuple[int, int, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``lstm`` over ``x (T, B, F)`` from ``(h, c)``, the state zeroed where :func:`reset_spans`
    says: one ``nn.LSTM`` call per span. Returns the outputs ``(T, B, C)`` and the final state."""
    pieces = []
    for begin, end, keep in spans:
        out, (h, c) = lstm(x[begin:end], ((h * keep).contiguous(), (c * keep).contiguous()))
        pieces.append(out)
    return (pieces[0] if len(pieces) == 1 else torch.cat(pieces)), h, c


def lstm_layer(in_features: int, cell_size: int) -> nn.LSTM:
    """A one-layer LSTM with orthogonal weights and zero biases."""
    lstm = nn.LSTM(in_features, cell_size)
    for name, param in lstm.named_parameters():
        if name.startswith("weight"):
            nn.init.orthogonal_(param, 1.0)
        else:
            nn.init.zeros_(param)
    return lstm
