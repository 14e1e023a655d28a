"""The masked LSTM both recurrent model families use: an ``nn.LSTM`` whose state is zeroed where an episode starts."""

from __future__ import annotations

import torch
from torch import nn


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
