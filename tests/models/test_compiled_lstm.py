"""The compiled LSTM loop (``model.lstm_pass = "compiled"``): its outputs, final state and every
gradient against the masked recurrence computed step by step in float64, its build (cached, the
process's float mode untouched, refused with the reason where it cannot build), and which pass
``auto`` takes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from gymnasium import spaces

from advantage.models import ActorCriticLSTM, ModelConfig
from advantage.models import compiled_lstm as kernel
from advantage.models.compiled_lstm import compiled_lstm
from advantage.models.lstm import lstm_layer, step_lstm

BOX = spaces.Box(-1, 1, (3,), np.float32)


def reference(lstm, x, h, c, starts, weights):
    """The masked recurrence one ``torch.lstm_cell`` at a time in float64: outputs, final state and
    the gradients of ``Σ weights · (y, h_T, c_T)`` to ``x, h, c`` and the four weights."""
    lstm64 = copy.deepcopy(lstm).double()
    x, h, c = (t.detach().double().requires_grad_() for t in (x, h, c))
    y, h_T, c_T = step_lstm(lstm64, x, h.unsqueeze(0), c.unsqueeze(0), starts)
    loss = sum((out * w.double()).sum() for out, w in zip((y, h_T[0], c_T[0]), weights))
    return (y, h_T[0], c_T[0]), torch.autograd.grad(loss, [x, h, c, *lstm64.parameters()])


@pytest.mark.parametrize("T, B, F, C", [(32, 8, 2, 64), (7, 5, 3, 20), (1, 3, 4, 16), (40, 16, 6, 64), (9, 11, 5, 33)])
def test_outputs_state_and_gradients_equal_the_step_by_step_recurrence(T, B, F, C):
    """Row blocks of 8, 4, 2 and 1 and widths off the 32-column blocks, starts at t = 0 and inside,
    a non-zero entry state: every output and gradient as float64's to float32 rounding."""
    torch.manual_seed(T * B + C)
    lstm = lstm_layer(F, C)
    with torch.no_grad():
        for p in lstm.parameters():
            p.add_(0.2 * torch.randn_like(p))
    x, h, c = torch.randn(T, B, F, requires_grad=True), torch.randn(B, C, requires_grad=True), torch.randn(B, C, requires_grad=True)
    starts = torch.rand(T, B) < 0.15
    starts[0, 0] = True
    weights = torch.randn(T, B, C), torch.randn(B, C), torch.randn(B, C)
    want, want_grads = reference(lstm, x, h, c, starts, weights)
    got = compiled_lstm(lstm, x, h, c, (~starts).float())
    loss = sum((out * w).sum() for out, w in zip(got, weights))
    got_grads = torch.autograd.grad(loss, [x, h, c, *lstm.parameters()])
    for out, ref in zip(got, want):
        torch.testing.assert_close(out.double(), ref, atol=2e-6, rtol=1e-5)
    for grad, ref in zip(got_grads, want_grads):
        torch.testing.assert_close(grad.double(), ref, atol=2e-5, rtol=1e-4)
    # a start really cuts: the steps after it do not depend on the state before it
    assert got_grads[1][0].abs().max() == 0  # column 0 starts at t = 0, so h0[0] reaches nothing


def test_each_bias_gets_a_gradient_of_its_own():
    """``b_ih`` and ``b_hh`` have the same gradient, as two tensors: the closed form sets ``.grad``
    from ``autograd.grad`` and clipping scales each in place (one shared tensor would be scaled twice)."""
    lstm = lstm_layer(3, 8)
    y, _, _ = compiled_lstm(lstm, torch.randn(5, 2, 3), torch.zeros(2, 8), torch.zeros(2, 8), torch.ones(5, 2))
    d_ih, d_hh = torch.autograd.grad(y.sum(), [lstm.bias_ih_l0, lstm.bias_hh_l0])
    torch.testing.assert_close(d_ih, d_hh)
    assert d_ih.data_ptr() != d_hh.data_ptr()


def test_saturated_gates_stay_finite_and_exact():
    """Pre-activations far past float32's range of exp (the kernel is built without infinities and
    clamps them) give gates of exactly 0 and 1, as float64 does."""
    torch.manual_seed(0)
    lstm = lstm_layer(1, 16)
    with torch.no_grad():  # every pre-activation beyond ±1e4: x ≥ 1 times ±1e4, plus |h W_hh| ≤ 16
        lstm.weight_ih_l0.copy_(1e4 * torch.randn(64, 1).sign())
    x, h, c = 1 + torch.rand(6, 4, 1), torch.zeros(4, 16), torch.zeros(4, 16)
    starts = torch.zeros(6, 4, dtype=torch.bool)
    y, h_T, c_T = compiled_lstm(lstm, x, h, c, torch.ones(6, 4))
    (want, _, _), _ = reference(lstm, x, h, c, starts, (torch.ones(6, 4, 16), torch.ones(4, 16), torch.ones(4, 16)))
    assert torch.isfinite(y).all() and torch.isfinite(c_T).all()
    assert (y == 0).any() and (y != 0).any()  # closed and open output gates both occur
    torch.testing.assert_close(y.double(), want, atol=1e-6, rtol=0)


def test_only_the_inputs_that_need_it_get_a_gradient():
    lstm = lstm_layer(3, 8)
    lstm.weight_ih_l0.requires_grad_(False)
    x = torch.randn(5, 2, 3)  # no gradient asked (an LSTM that reads the observation)
    h = torch.zeros(2, 8, requires_grad=True)
    y, _, _ = compiled_lstm(lstm, x, h, torch.zeros(2, 8), torch.ones(5, 2))
    y.sum().backward()
    assert lstm.weight_ih_l0.grad is None and x.grad is None
    assert h.grad is not None and lstm.weight_hh_l0.grad.abs().sum() > 0 and lstm.bias_hh_l0.grad.abs().sum() > 0


def test_loading_the_kernel_leaves_denormals_alone():
    """The kernel is compiled with -ffast-math but linked without it: linked with it, its loader
    would set flush-to-zero for the whole process and torch's arithmetic with it."""
    kernel.load_kernel()
    tiny = torch.tensor([1e-40])  # a float32 denormal
    assert (tiny * 1.0).item() > 0


@pytest.fixture
def fresh_build(tmp_path, monkeypatch):
    """A cache of its own and no kernel loaded yet in this process (restored after the test)."""
    monkeypatch.setenv("ADVANTAGE_CACHE_DIR", str(tmp_path / "cache"))
    kernel._loaded.cache_clear()
    yield tmp_path / "cache"
    kernel._loaded.cache_clear()


def test_the_kernel_is_built_once_and_cached(fresh_build):
    kernel.load_kernel()
    built = list(fresh_build.glob("lstm_kernel-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    kernel._loaded.cache_clear()
    kernel.load_kernel()  # another process on this machine: loads what is there
    assert built[0].stat().st_mtime_ns == stamp and len(list(fresh_build.iterdir())) == 1


def test_without_a_compiler_auto_takes_separators_and_compiled_is_refused(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler")
    assert "no C compiler found" in kernel.kernel_error()
    monkeypatch.setattr(kernel.shutil, "which", lambda name: pytest.fail("looked for the compiler again"))
    assert "no C compiler found" in kernel.kernel_error()  # the failure is kept, not retried per pass
    auto = ActorCriticLSTM(BOX, spaces.Discrete(2), ModelConfig(policy="lstm"))
    assert auto.sequence_pass() == "separators"
    with pytest.raises(ValueError, match=r"lstm_pass=compiled cannot run here \(no C compiler found.*use lstm_pass=auto"):
        ActorCriticLSTM(BOX, spaces.Discrete(2), ModelConfig(policy="lstm", lstm_pass="compiled"))


def test_a_compiler_that_fails_is_reported(fresh_build, monkeypatch, tmp_path):
    failing = tmp_path / "cc"
    failing.write_text("#!/bin/sh\necho 'cc: error: unsupported option' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("CC", str(failing))
    assert kernel.kernel_error() == f"{failing} could not build lstm_kernel.c: cc: error: unsupported option"


def test_auto_takes_compiled_for_float32_on_the_cpu_only():
    model = ActorCriticLSTM(BOX, spaces.Discrete(2), ModelConfig(policy="lstm"))
    assert model.sequence_pass() == "compiled"
    assert model.double().sequence_pass() == "separators"
    compiled = ActorCriticLSTM(BOX, spaces.Discrete(2), ModelConfig(policy="lstm", lstm_pass="compiled"))
    with pytest.raises(ValueError, match="lstm_pass=compiled runs float32 on the CPU, not torch.float64 on cpu"):
        compiled.double()


def test_a_pass_that_needs_the_final_state_keeps_compiled():
    """``compiled`` yields the final state, so a sequence pass that asks for it (UNREAL's
    auxiliary core) keeps the compiled loop, and gets the step-by-step state."""
    torch.manual_seed(1)
    model = ActorCriticLSTM(BOX, spaces.Discrete(2), ModelConfig(policy="lstm", shared=False))
    obs, starts = torch.randn(9, 4, 3), torch.rand(9, 4) < 0.2
    memory = torch.randn(*model.initial_memory(4).shape)
    inputs = model.sequence_inputs(obs, starts, torch.float32, final_state=True)
    assert inputs.path == "compiled"
    _, _, state = model.core(obs, starts, memory)
    model.config = ModelConfig(policy="lstm", shared=False, lstm_pass="steps")
    _, _, want = model.core(obs, starts, memory)
    torch.testing.assert_close(state, want, atol=1e-6, rtol=1e-5)


def test_a_weight_changed_in_place_before_backward_is_refused():
    """As for torch's own layers: a step between the forward and its backward is an error, not a
    gradient of other weights."""
    lstm = lstm_layer(3, 8)
    y, _, _ = compiled_lstm(lstm, torch.randn(5, 2, 3), torch.zeros(2, 8), torch.zeros(2, 8), torch.ones(5, 2))
    with torch.no_grad():
        lstm.weight_hh_l0.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
