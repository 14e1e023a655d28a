"""Encoders for structured observations (Dict, Tuple, Discrete, ...) and for small images.

A structured observation reaches the model flattened (:class:`advantage.data.observations.ObsLayout`).
:class:`MultiInputEncoder` cuts it back into its parts: every image part goes through a CNN (the
Nature CNN from 36×36 pixels up, :class:`SmallCNN` below that), every other part is taken as is,
and the concatenation goes through one MLP trunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from gymnasium import spaces
from torch import nn

from advantage.data.observations import ObsLayout, is_image_space, is_structured
from advantage.models.encoders import MLP, NatureCNN
from advantage.models.init import layer_init
from advantage.models.normalization import ObsNormalizer

NATURE_MIN_SIZE = 36
"""Smallest side the Nature CNN's 8/4, 4/2, 3/1 convolutions accept."""


def channels_last(shape: Sequence[int]) -> bool:
    """Whether an image of ``shape`` is ``(H, W, C)``: its last side is shorter than its first
    (``(84, 84, 4)``, MiniGrid's ``(7, 7, 3)``); ``(C, H, W)`` otherwise (``(4, 84, 84)``)."""
    return shape[-1] < shape[0]


def chw(shape: Sequence[int]) -> tuple[int, int, int]:
    """The channel-first form of an image shape."""
    c, h, w = (shape[2], shape[0], shape[1]) if channels_last(shape) else tuple(shape)
    return int(c), int(h), int(w)


class SmallCNN(nn.Module):
    """Three 2×2 convolutions (16, 32, 64 channels, stride 1) for images too small for the Nature
    CNN (as used for MiniGrid's 7×7 views); pixels scaled by 1/255, channel order detected."""

    def __init__(self, obs_shape: Sequence[int]) -> None:
        super().__init__()
        self.channels_last = channels_last(obs_shape)
        c, h, w = chw(obs_shape)
        if min(h, w) < 4:
            raise ValueError(f"image observations of shape {tuple(obs_shape)} are too small for a CNN (sides >= 4)")
        self.conv = nn.Sequential(
            layer_init(nn.Conv2d(c, 16, 2)), nn.ReLU(),
            layer_init(nn.Conv2d(16, 32, 2)), nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 2)), nn.ReLU(),
            nn.Flatten(start_dim=1),
        )
        self.out_features = 64 * (h - 3) * (w - 3)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float() / 255.0
        return self.conv(x.permute(0, 3, 1, 2) if self.channels_last else x)


def image_encoder(obs_shape: Sequence[int], channels_last: bool = False, precision: str = "float32") -> NatureCNN | SmallCNN:
    """The Nature CNN for images of at least 36×36 pixels, :class:`SmallCNN` below."""
    _, h, w = chw(obs_shape)
    if min(h, w) >= NATURE_MIN_SIZE:
        return NatureCNN(obs_shape, memory_channels_last=channels_last, precision=precision)
    return SmallCNN(obs_shape)


class MultiInputEncoder(nn.Module):
    """A CNN per image part, the other parts as they are, then one MLP over the concatenation."""

    def __init__(self, layout: ObsLayout, hidden_sizes: Sequence[int], activation: str) -> None:
        super().__init__()
        self.image_leaves = [leaf for leaf in layout.leaves if leaf.image]
        self.vector_leaves = [leaf for leaf in layout.leaves if not leaf.image]
        self.cnns = nn.ModuleList([image_encoder(leaf.shape) for leaf in self.image_leaves])
        width = sum(cnn.out_features for cnn in self.cnns) + sum(leaf.size for leaf in self.vector_leaves)
        self.trunk = MLP((width,), hidden_sizes, activation)
        self.out_features = self.trunk.out_features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.float()
        parts = [
            cnn(obs[:, leaf.offset:leaf.offset + leaf.size].reshape(-1, *leaf.shape))
            for cnn, leaf in zip(self.cnns, self.image_leaves)
        ]
        parts += [obs[:, leaf.offset:leaf.offset + leaf.size] for leaf in self.vector_leaves]
        return self.trunk(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])


def make_encoder(observation_space: spaces.Space, config) -> tuple[nn.Module, bool]:
    """The encoder ``config`` (a ModelConfig) asks for on ``observation_space``, and whether it
    holds a CNN (CNN encoders are shared by actor and critic). ``config.cnn_channels_last`` is
    refused unless the encoder is a Nature CNN, the one it changes."""
    if is_structured(observation_space):
        encoder = MultiInputEncoder(ObsLayout(observation_space), config.hidden_sizes, config.activation)
        has_cnn = bool(len(encoder.cnns))
    elif config.encoder == "cnn" or (config.encoder == "auto" and is_image_space(observation_space)):
        encoder, has_cnn = image_encoder(observation_space.shape, config.cnn_channels_last, config.cnn_precision), True
    else:
        encoder, has_cnn = MLP(observation_space.shape, config.hidden_sizes, config.activation), False
    if config.cnn_channels_last and not isinstance(encoder, NatureCNN):
        raise ValueError(
            "model.cnn_channels_last applies to the Nature CNN (image observations of at least 36x36 "
            f"pixels); this model's encoder is a {type(encoder).__name__}: drop model.cnn_channels_last"
        )
    if config.cnn_precision != "float32" and not isinstance(encoder, NatureCNN):
        raise ValueError(
            f"model.cnn_precision={config.cnn_precision} applies to the Nature CNN (image observations of at "
            f"least 36x36 pixels); this model's encoder is a {type(encoder).__name__}: drop model.cnn_precision"
        )
    return encoder, has_cnn


def flat_obs_shape(observation_space: spaces.Space) -> tuple[int, ...]:
    """The shape of the observations the model receives (structured ones flattened)."""
    if is_structured(observation_space):
        return tuple(ObsLayout(observation_space).space.shape)
    return tuple(observation_space.shape)


def make_obs_normalizer(observation_space: spaces.Space) -> ObsNormalizer:
    """Running normalisation of the model's input; image parts of a structured space stay raw."""
    if not is_structured(observation_space):
        return ObsNormalizer(observation_space.shape)
    layout = ObsLayout(observation_space)
    raw = torch.zeros(layout.size, dtype=torch.bool)
    for leaf in layout.leaves:
        raw[leaf.offset:leaf.offset + leaf.size] = leaf.image
    return ObsNormalizer((layout.size,), raw=raw)
