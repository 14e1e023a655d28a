"""The check both closed-form tests (PPO, A2C) make: the same parameters and metrics as autograd's."""

from __future__ import annotations

import pytest
import torch


def assert_trains_like_autograd(fast, slow, fast_metrics: list[dict], slow_metrics: list[dict], atol: float) -> None:
    """Parameters of the closed-form model ``fast`` equal autograd's ``slow`` within ``atol``, and
    every logged metric of every update agrees to 1e-4 relative."""
    for (name, p), q in zip(fast.named_parameters(), slow.parameters()):
        torch.testing.assert_close(p, q, atol=atol, rtol=1e-5, msg=lambda m, name=name: f"{name}: {m}")
    for got, want in zip(fast_metrics, slow_metrics):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), key
