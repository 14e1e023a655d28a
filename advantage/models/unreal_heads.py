"""UNREAL's auxiliary heads, beside (not inside) the recurrent actor-critic they read from.

The policy that acts, is evaluated, recorded and exported is the plain
:class:`~advantage.models.recurrent.ActorCriticLSTM`; these heads exist only while training
(the algorithm owns them, their weights go into its checkpoint state). A head whose task has
weight 0 is not built.

- :class:`PixelControlHead`: the LSTM output → a linear layer to a ``32 × gh × gw`` map →
  two 3×3 stride-1 deconvolutions (the grid keeps its size) giving the dueling value
  ``V (1, gh, gw)`` and advantages ``A (n, gh, gw)``; ``Q = V + A − mean_a A``. The paper maps to
  32×7×7 and deconvolves 4×4 with stride 2 to 20×20; a stride-1 deconvolution fits any grid. A
  stride-1 transposed convolution is a convolution with the kernel flipped, so it is computed as
  ``nn.Conv2d`` (padding 1), whose CPU kernels are several times faster than ``ConvTranspose2d``'s.
- reward prediction: the encoder features of ``k`` frames concatenated → 128 ReLU → 3 logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from advantage.models.init import layer_init
from advantage.models.multi_input import MultiInputEncoder, channels_last, chw


class PixelControlHead(nn.Module):
    """Dueling action values per cell: ``(..., C) → (..., n, gh, gw)``."""

    def __init__(self, in_features: int, num_actions: int, grid: tuple[int, int], channels: int = 32) -> None:
        super().__init__()
        self.grid, self.channels = grid, channels
        self.fc = nn.Sequential(layer_init(nn.Linear(in_features, channels * grid[0] * grid[1])), nn.ReLU())
        self.value = nn.Conv2d(channels, 1, 3, padding=1)
        self.advantage = nn.Conv2d(channels, num_actions, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        h = self.fc(x.reshape(-1, x.shape[-1])).view(-1, self.channels, *self.grid)
        value, advantage = self.value(h), self.advantage(h)
        q = value + advantage - advantage.mean(dim=1, keepdim=True)
        return q.view(*lead, *q.shape[1:])


def reward_prediction_head(in_features: int, frames: int) -> nn.Sequential:
    """``frames`` concatenated feature vectors → 128 ReLU → 3 logits (zero, positive, negative)."""
    return nn.Sequential(layer_init(nn.Linear(frames * in_features, 128)), nn.ReLU(), layer_init(nn.Linear(128, 3), std=0.01))


def image_view(encoder: nn.Module, obs_shape: tuple[int, ...]) -> tuple[Callable[[torch.Tensor], torch.Tensor], tuple[int, int, int]] | None:
    """A function taking the model's observations ``(*lead, *obs_shape)`` to their (first) image
    channel-first ``(*lead, K, H, W)``, and that image's ``(K, H, W)``; None when the model reads
    no image (a 3-d Box observation, or a Dict with an image part)."""
    if isinstance(encoder, MultiInputEncoder) and encoder.image_leaves:
        leaf = encoder.image_leaves[0]
        shape, begin, end = tuple(leaf.shape), leaf.offset, leaf.offset + leaf.size

        def cut(obs: torch.Tensor) -> torch.Tensor:
            return _channels_first(obs[..., begin:end].reshape(*obs.shape[:-1], *shape), shape)

        return cut, chw(shape)
    if len(obs_shape) == 3:  # an image, whatever body encodes it
        return (lambda obs: _channels_first(obs, obs_shape)), chw(obs_shape)
    return None


def _channels_first(image: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``(..., H, W, C)`` → ``(..., C, H, W)`` when ``shape`` is channel-last (as the encoders tell)."""
    return image.movedim(-1, -3) if channels_last(shape) else image
