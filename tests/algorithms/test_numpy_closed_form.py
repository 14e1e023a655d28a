"""The NumPy closed form's pieces against torch's: the forward pass (log π, entropy, V) of every
head against ``ClosedFormActorCritic``'s, and the flat optimiser step against ``optimizers.py``'s
steps with the same gradients; and the flat state's round trip through the torch tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from advantage.algorithms.base import clip_and_step
from advantage.algorithms.closed_form import ClosedFormActorCritic
from advantage.algorithms.numpy_closed_form import FlatState, NumpyActorCritic
from advantage.algorithms.optimizers import make_optimizer
from advantage.models import ActorCritic, ActorCriticLSTM, ModelConfig

OBS = spaces.Box(-np.inf, np.inf, (5,), np.float32)


def model_and_inputs(discrete: bool, **model_kw):
    torch.manual_seed(0)
    space = spaces.Discrete(4) if discrete else spaces.Box(-1, 1, (3,), np.float32)
    model = ActorCritic(OBS, space, ModelConfig(**model_kw))
    obs = torch.randn(37, 5) * 2
    actions = torch.randint(0, 4, (37,)) if discrete else torch.randn(37, 3)
    return model, obs, actions


@pytest.mark.parametrize("discrete, model_kw", [
    (True, {}), (True, {"shared": True, "activation": "relu"}), (False, {"log_std_init": -0.7}),
    (False, {"use_sde": True, "log_std_init": -1.5}), (False, {"use_sde": True, "shared": True, "hidden_sizes": (16,)}),
])
def test_forward_equals_the_torch_closed_form(discrete, model_kw):
    model, obs, actions = model_and_inputs(discrete, **model_kw)
    optimizer = make_optimizer("adam", model.parameters(), 1e-3, 1e-5)
    net = NumpyActorCritic(model, optimizer, list(model.parameters()))
    net.state.load()
    got = net.forward(net.observations(obs), actions.numpy())
    with torch.no_grad():
        torch_net = ClosedFormActorCritic(model)
        want = torch_net.forward(torch_net.observations(obs), actions)
    for name in ("logp", "entropy", "value"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name).numpy(), rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("kind", ["adam", "rmsprop", "rmsprop_tf"])
@pytest.mark.parametrize("grad_clip", [None, 0.3])
def test_the_flat_step_equals_the_optimiser_step(kind, grad_clip):
    """Five steps with the same (large, clipped or not) gradients: the same parameters and state."""
    params = {}
    for path in ("torch", "numpy"):
        torch.manual_seed(0)
        params[path] = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    opt_t = make_optimizer(kind, params["torch"], 1e-2, 1e-5)
    opt_n = make_optimizer(kind, params["numpy"], 1e-2, 1e-5)
    state = FlatState(params["numpy"], opt_n)
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g) * 2 for p in params["torch"]]
        for p, grad in zip(params["torch"], grads):
            p.grad = grad.clone()
        want = clip_and_step([p.grad for p in params["torch"]], opt_t, grad_clip)
        state.load()
        for view, grad in zip(state.grads, grads):
            view[...] = grad.numpy()
        got = state.clip_and_step(grad_clip)
        state.store()
        assert got == pytest.approx(want, rel=1e-5)
    for p, q in zip(params["numpy"], params["torch"]):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
    for (_, sn), (_, st) in zip(opt_n.state_dict()["state"].items(), opt_t.state_dict()["state"].items()):
        for key in st:
            torch.testing.assert_close(sn[key], st[key], rtol=1e-5, atol=1e-7)


def test_a_non_finite_norm_changes_nothing():
    p = torch.nn.Parameter(torch.ones(3))
    state = FlatState([p], make_optimizer("adam", [p], 1e-2, 1e-5))
    state.load()
    state.grads[0][...] = [1.0, np.nan, 0.0]
    assert not np.isfinite(state.clip_and_step(0.5))
    state.store()
    assert torch.equal(p.detach(), torch.ones(3)) and state.step_count == 0


def test_a_loaded_optimiser_state_is_read_afresh():
    """After ``load_state_dict`` (new state tensors) the flat state reads and writes the new ones."""
    p = torch.nn.Parameter(torch.zeros(2))
    opt = make_optimizer("adam", [p], 1e-2, 1e-5)
    state = FlatState([p], opt)
    state.load()
    state.grads[0][...] = 1.0
    state.clip_and_step(None)
    state.store()
    saved = opt.state_dict()
    saved["state"][0]["exp_avg"] = torch.tensor([5.0, 6.0])
    opt.load_state_dict(saved)
    state.load()
    assert state.first.tolist() == [5.0, 6.0] and state.step_count == 1
    state.first[:] = 7.0
    state.store()
    assert opt.state[p]["exp_avg"].tolist() == [7.0, 7.0]


def test_supports_mlp_models_with_the_projects_optimisers_only():
    model, _, _ = model_and_inputs(True)
    assert NumpyActorCritic.supports(model, make_optimizer("adam", model.parameters(), 1e-3, 1e-5))
    assert not NumpyActorCritic.supports(model, torch.optim.SGD(model.parameters(), lr=0.1))
    lstm = ActorCriticLSTM(OBS, spaces.Discrete(2), ModelConfig(policy="lstm"))
    assert not NumpyActorCritic.supports(lstm, make_optimizer("adam", lstm.parameters(), 1e-3, 1e-5))
