"""advantage's Adam and RMSprop: torch.optim's steps bit for bit, its state_dict format, and no
``torch._dynamo`` import (the ~1 s that torch.optim adds to every launch)."""

import io
import subprocess
import sys

import pytest
import torch
from torch import nn

from advantage.algorithms import optimizers
from advantage.algorithms.optimizers import Adam, RMSprop, RMSpropTF, make_optimizer


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def _grads(model: nn.Module, step: int) -> None:
    torch.manual_seed(100 + step)
    x, y = torch.randn(32, 5), torch.randn(32, 3)
    model.zero_grad(set_to_none=True)
    ((model(x) - y) ** 2).mean().backward()


def _train(model: nn.Module, optimizer, steps: range, lrs=None) -> None:
    for t in steps:
        _grads(model, t)
        if lrs is not None:
            for group in optimizer.param_groups:
                group["lr"] = lrs(t)
        optimizer.step()


PAIRS = {
    "adam": (lambda ps: Adam(ps, lr=3e-3, eps=1e-5), lambda ps: torch.optim.Adam(ps, lr=3e-3, eps=1e-5, fused=True)),
    "rmsprop": (lambda ps: RMSprop(ps, lr=3e-3, alpha=0.99, eps=1e-5),
                lambda ps: torch.optim.RMSprop(ps, lr=3e-3, alpha=0.99, eps=1e-5, foreach=True)),
}


@pytest.mark.parametrize("kind", PAIRS)
def test_steps_equal_torch_optim_bit_for_bit(kind):
    ours_model, torch_model = _model(), _model()
    ours, theirs = PAIRS[kind][0](ours_model.parameters()), PAIRS[kind][1](torch_model.parameters())
    schedule = lambda t: 3e-3 * (1 - t / 60)  # noqa: E731 - a decaying rate, as the trainers set it
    _train(ours_model, ours, range(50), schedule)
    _train(torch_model, theirs, range(50), schedule)
    for p, q in zip(ours_model.parameters(), torch_model.parameters()):
        assert torch.equal(p, q)
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    assert ours_state["param_groups"] == their_state["param_groups"]
    assert ours_state["state"].keys() == their_state["state"].keys()
    for i, state in their_state["state"].items():
        assert state.keys() == ours_state["state"][i].keys()
        for key, value in state.items():
            assert torch.equal(ours_state["state"][i][key], value) and ours_state["state"][i][key].dtype == value.dtype


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("direction", ["ours to torch", "torch to ours"])
def test_state_dicts_load_across_and_training_continues_identically(kind, direction):
    """A checkpoint written with torch.optim (every checkpoint before this class) resumes in ours, and
    the reverse; through ``torch.load(weights_only=True)``, as checkpoints are read."""
    make_ours, make_theirs = PAIRS[kind]
    first, second = (make_ours, make_theirs) if direction == "ours to torch" else (make_theirs, make_ours)
    model = _model()
    optimizer = first(model.parameters())
    _train(model, optimizer, range(10))
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    resumed_model = _model(seed=1)
    resumed_model.load_state_dict(saved["model"])
    resumed = second(resumed_model.parameters())
    resumed.load_state_dict(saved["optimizer"])
    _train(resumed_model, resumed, range(10, 20))
    _train(model, optimizer, range(10, 20))
    for p, q in zip(model.parameters(), resumed_model.parameters()):
        assert torch.equal(p, q)


def test_loaded_state_is_copied_not_shared():
    """Stepping after a load must not write into the state dict it came from."""
    model = _model()
    optimizer = Adam(model.parameters())
    _train(model, optimizer, range(3))
    saved = optimizer.state_dict()
    kept = saved["state"][0]["exp_avg"].clone()
    resumed_model = _model()
    resumed = Adam(resumed_model.parameters())
    resumed.load_state_dict(saved)
    _train(resumed_model, resumed, range(3, 5))
    assert torch.equal(saved["state"][0]["exp_avg"], kept)


def test_a_state_of_another_model_or_another_rule_is_refused():
    optimizer = Adam(_model().parameters())
    with pytest.raises(ValueError, match="one group of 4 parameters: it belongs to another model"):
        optimizer.load_state_dict(Adam(nn.Linear(5, 3).parameters()).state_dict())
    amsgrad = torch.optim.Adam(_model().parameters(), amsgrad=True)
    with pytest.raises(ValueError, match="amsgrad=True; Adam takes steps with amsgrad=False only"):
        optimizer.load_state_dict(amsgrad.state_dict())
    plain = Adam(_model().parameters())
    _train(_model(), plain, range(0))  # no state yet: loading it leaves the optimiser fresh
    optimizer.load_state_dict(plain.state_dict())
    assert optimizer.state == {}


def test_parameters_without_a_gradient_are_left_alone():
    model = _model()
    optimizer = RMSprop(model.parameters(), lr=1e-2)
    _grads(model, 0)
    model[2].bias.grad = None
    before = model[2].bias.detach().clone()
    optimizer.step()
    assert torch.equal(model[2].bias, before) and model[2].bias not in optimizer.state
    assert len(optimizer.state) == 3


@pytest.mark.parametrize("kind", PAIRS)
def test_a_strided_gradient_takes_the_step_of_its_contiguous_copy(kind):
    """A .grad set by hand as a view (a closed-form step's, a user's hook): torch's fused CPU Adam
    reads it as if contiguous, so the optimiser copies it first."""
    strided_model, plain_model = _model(), _model()
    strided, plain = PAIRS[kind][0](strided_model.parameters()), PAIRS[kind][0](plain_model.parameters())
    for t in range(3):
        torch.manual_seed(t)
        for p, q in zip(strided_model.parameters(), plain_model.parameters()):
            wide = torch.randn(*p.shape[:-1], p.shape[-1] + 3) if p.dim() == 2 else torch.randn(p.shape)
            p.grad = wide[..., : p.shape[-1]]
            q.grad = p.grad.contiguous()
        assert not strided_model[0].weight.grad.is_contiguous()
        strided.step()
        plain.step()
    for p, q in zip(strided_model.parameters(), plain_model.parameters()):
        assert torch.equal(p, q)


def test_zero_grad():
    model = _model()
    optimizer = Adam(model.parameters())
    _grads(model, 0)
    optimizer.zero_grad(set_to_none=False)
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in model.parameters())
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_without_the_fused_kernel_torch_optim_adam_takes_the_steps(monkeypatch):
    """A torch lacking ``torch._fused_adam_`` (CPU before 2.4) or with a changed signature trains with
    ``torch.optim.Adam(foreach=True)``: the same rule, equal to float rounding."""
    optimizers.fused_adam_works.cache_clear()
    assert isinstance(make_optimizer("adam", _model().parameters(), 1e-3, 1e-5), Adam)

    def missing():
        return torch.ops.aten.no_such_kernel_(torch.ones(1))

    monkeypatch.setattr(optimizers, "FUSED_ADAM_PROBE", missing)
    optimizers.fused_adam_works.cache_clear()
    try:
        fallback_model, fused_model = _model(), _model()
        fallback = make_optimizer("adam", fallback_model.parameters(), 1e-3, 1e-5)
        assert type(fallback) is torch.optim.Adam and fallback.defaults["foreach"]
        _train(fallback_model, fallback, range(20))
        _train(fused_model, Adam(fused_model.parameters(), lr=1e-3, eps=1e-5), range(20))
        for p, q in zip(fallback_model.parameters(), fused_model.parameters()):
            torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
    finally:
        optimizers.fused_adam_works.cache_clear()


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="optimizer must be one of 'adam', 'rmsprop', 'rmsprop_tf', got 'sgd'"):
        make_optimizer("sgd", _model().parameters(), 1e-3, 1e-5)


def test_training_run_never_imports_torch_dynamo(tmp_path):
    """The point of these classes: a whole `advantage train` (PPO and A2C updates, checkpoints,
    validation) runs without importing torch._dynamo, which torch.optim would (~1 s per launch)."""
    code = (
        "import sys\n"
        "from advantage.cli import main\n"
        "for algo in ('ppo', 'a2c'):\n"
        f"    main(['train', '--algo', algo, '--env', 'CartPole-v1', '--total-timesteps', '3000', '--seed', '1',\n"
        f"          '--run-dir', r'{tmp_path}/' + algo, '--no-progress', '--set', 'trainer.validate_freq=1000'])\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


@pytest.mark.parametrize("kind", PAIRS)
def test_loading_into_a_stepped_optimiser_replaces_the_state_it_steps_with(kind):
    """A load after steps (a resume into a live agent) must step the loaded state, not the old one."""
    make_ours, make_theirs = PAIRS[kind]
    model, reference = _model(), _model()
    ours, theirs = make_ours(model.parameters()), make_theirs(reference.parameters())
    _train(model, ours, range(5, 8))  # ours has stepped (and built its per-key lists)
    _train(reference, theirs, range(4))
    model.load_state_dict(reference.state_dict())
    ours.load_state_dict(theirs.state_dict())
    _train(model, ours, range(4, 10))
    _train(reference, theirs, range(4, 10))
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.equal(p, q)


# -- RMSprop as TensorFlow's (rmsprop_tf) ---------------------------------------------------------
def test_rmsprop_tf_steps_equal_a_plain_reference():
    """v₀ = 1, v ← α v + (1 − α) g², θ ← θ − lr · g / √(v + ε), written out per parameter in float64."""
    alpha, eps = 0.99, 1e-5
    model, reference = _model(), _model()
    optimizer = make_optimizer("rmsprop_tf", model.parameters(), 3e-3, eps, alpha)
    assert isinstance(optimizer, RMSpropTF)
    square = [torch.ones_like(p, dtype=torch.float64) for p in reference.parameters()]
    schedule = lambda t: 3e-3 * (1 - t / 60)  # noqa: E731
    for t in range(30):
        _grads(reference, t)
        with torch.no_grad():
            for i, p in enumerate(reference.parameters()):
                g = p.grad.double()
                square[i] = alpha * square[i] + (1 - alpha) * g * g
                p.copy_(p.double() - schedule(t) * g / torch.sqrt(square[i] + eps))
    _train(model, optimizer, range(30), schedule)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert all(int(s["step"]) == 30 for s in optimizer.state_dict()["state"].values())


def test_rmsprop_tf_takes_small_first_steps_where_torch_rmsprop_takes_ten_times_lr():
    """The reason for the option: from v₀ = 0 a first step is lr / √(1 − α) ≈ 10 · lr per weight
    whatever the gradient; from v₀ = 1 it is about lr · |g|."""
    lr = 1e-3
    moved = {}
    for kind in ("rmsprop", "rmsprop_tf"):
        model = _model()
        before = [p.detach().clone() for p in model.parameters()]
        optimizer = make_optimizer(kind, model.parameters(), lr, 1e-5, 0.99)
        _grads(model, 0)
        grads = [p.grad.clone() for p in model.parameters()]
        optimizer.step()
        moved[kind] = torch.cat([(p.detach() - b).abs().flatten() for p, b in zip(model.parameters(), before)])
        g = torch.cat([x.abs().flatten() for x in grads])
    torch.testing.assert_close(moved["rmsprop"], lr * g / (torch.sqrt(0.01 * g * g) + 1e-5), rtol=1e-4, atol=1e-9)
    torch.testing.assert_close(moved["rmsprop_tf"], lr * g / torch.sqrt(0.99 + 0.01 * g * g + 1e-5), rtol=1e-4, atol=1e-7)  # float32 θ: ulp ~3e-8
    big = g > 1e-2  # where the gradient is not ~ε-sized: ~10 · lr against ≤ lr
    assert (moved["rmsprop"][big] > 9 * lr).all() and (moved["rmsprop_tf"] < lr).all()


def test_rmsprop_tf_state_round_trips_and_training_continues_identically():
    straight, resumed = _model(), _model()
    first = RMSpropTF(straight.parameters(), lr=3e-3, eps=1e-5)
    _train(straight, first, range(20))
    second_model = _model()
    second = RMSpropTF(second_model.parameters(), lr=3e-3, eps=1e-5)
    _train(second_model, second, range(10))
    buffer = io.BytesIO()
    torch.save({"model": second_model.state_dict(), "optim": second.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed.load_state_dict(saved["model"])
    third = RMSpropTF(resumed.parameters(), lr=3e-3, eps=1e-5)
    third.load_state_dict(saved["optim"])
    _train(resumed, third, range(10, 20))
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="tf_like"):  # torch's RMSprop state is another rule
        RMSpropTF(_model().parameters()).load_state_dict({**saved["optim"], "param_groups": [
            {**saved["optim"]["param_groups"][0], "tf_like": False}]})
