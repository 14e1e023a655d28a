"""V-trace (Espeholt et al. 2018) against a straightforward per-step implementation written here.

The reference below sums the paper's definition term by term in float64,

    v_s = V(x_s) + Σ_{t=s}^{e} γ^{t-s} (Π_{i=s}^{t-1} c_i) δ_t,   δ_t = min(ρ̄, ρ_t)(r_t + γ V(x_{t+1}) - V(x_t)),

with c_i = λ min(c̄, ρ_i), e the step where the episode or the rollout ends, the bootstrap cut on
termination and taken from V(final observation) on truncation. The cases of the published
reference implementation's tests (deepmind/scalable_agent ``vtrace_test.py``) are reproduced:
per-env discounts 0.9 / (b + 1), ρ̄ = 3.7 for the targets and 2.2 for the advantages, batches of 1
and 5, log-probabilities from logits, and inputs of inconsistent shape refused. (In those cases
every ρ is at least 1, so c_i = 1 throughout; the cases added here draw ρ on both sides of 1.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from advantage.algorithms import A2CAlgorithm, A2CConfig
from advantage.data.batch import Rollout
from advantage.data.estimators import LambdaReturn, VTrace, behaviour_log_probs
from advantage.data.returns import lambda_returns, vtrace
from advantage.envs.vector import make_vec_env
from advantage.losses import log_prob_entropy
from advantage.models import ModelConfig, make_model
from advantage.training.collector import RolloutCollector


def per_step_vtrace(log_rhos, rewards, values, next_values, terminated, truncated, gamma, lam, rho_bar, c_bar, pg_rho_bar):
    """The definition, one (s, t) term at a time, in float64 numpy; ``gamma`` a (T, N) array."""
    log_rhos, rewards, values, next_values, gamma = (np.asarray(x, dtype=np.float64) for x in (log_rhos, rewards, values, next_values, gamma))
    terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
    T, N = rewards.shape
    rho = np.exp(log_rhos)
    vs, adv = np.zeros((T, N)), np.zeros((T, N))
    for n in range(N):
        ends = [t for t in range(T) if terminated[t, n] or truncated[t, n]] + [T - 1]
        for s in range(T):
            end = min(e for e in ends if e >= s)
            v = values[s, n]
            for t in range(s, end + 1):
                weight = 1.0
                for i in range(s, t):
                    weight *= gamma[i, n] * lam * min(c_bar, rho[i, n])
                bootstrap = 0.0 if terminated[t, n] else gamma[t, n] * next_values[t, n]
                v += weight * min(rho_bar, rho[t, n]) * (rewards[t, n] + bootstrap - values[t, n])
            vs[s, n] = v
        for t in range(T):
            continues = not (terminated[t, n] or truncated[t, n]) and t < T - 1
            following = vs[t + 1, n] if continues else next_values[t, n]
            q = rewards[t, n] + (0.0 if terminated[t, n] else gamma[t, n] * following)
            adv[t, n] = (q - values[t, n]) * (1.0 if pg_rho_bar is None else min(pg_rho_bar, rho[t, n]))
    return vs, adv


def random_case(seed: int, T: int = 9, N: int = 4):
    """ρ on both sides of 1; env 0 terminates at 2, env 1 is truncated at 4 and terminates at 7,
    env 2 is truncated at the last step, env 3 runs through."""
    g = torch.Generator().manual_seed(seed)
    terminated, truncated = torch.zeros(T, N, dtype=torch.bool), torch.zeros(T, N, dtype=torch.bool)
    terminated[2, 0], truncated[4, 1], terminated[7, 1], truncated[T - 1, 2] = True, True, True, True
    f = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    return dict(log_rhos=0.8 * f(T, N), rewards=f(T, N), values=f(T, N), next_values=f(T, N),
                terminated=terminated, truncated=truncated)


@pytest.mark.parametrize("rho_bar, c_bar, pg_rho_bar, lam", [
    (1.0, 1.0, 1.0, 1.0), (2.0, 0.5, 1.5, 0.9), (math.inf, math.inf, math.inf, 0.95), (1.0, 1.0, None, 1.0),
])
def test_vtrace_matches_the_per_step_definition_across_episode_ends(rho_bar, c_bar, pg_rho_bar, lam):
    case = random_case(1)
    vs, adv = vtrace(**case, gamma=0.97, lambda_=lam, rho_bar=rho_bar, c_bar=c_bar, pg_rho_bar=pg_rho_bar)
    gamma = np.full(case["rewards"].shape, 0.97)
    want_vs, want_adv = per_step_vtrace(*case.values(), gamma, lam, rho_bar, c_bar, pg_rho_bar)
    assert vs.dtype == torch.float64
    np.testing.assert_allclose(vs.numpy(), want_vs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(adv.numpy(), want_adv, rtol=1e-12, atol=1e-12)
    # the truncated step bootstraps from V(final observation); the terminated one does not
    r = case
    np.testing.assert_allclose(vs[4, 1].item(), r["values"][4, 1].item() + min(rho_bar, r["log_rhos"][4, 1].exp().item())
                               * (r["rewards"][4, 1] + 0.97 * r["next_values"][4, 1] - r["values"][4, 1]).item())
    np.testing.assert_allclose(vs[2, 0].item(), r["values"][2, 0].item() + min(rho_bar, r["log_rhos"][2, 0].exp().item())
                               * (r["rewards"][2, 0] - r["values"][2, 0]).item())


def test_truncation_is_not_termination():
    case = random_case(2)
    as_truncated = vtrace(**case, gamma=0.9)[0]
    terminated = case["terminated"] | case["truncated"]
    as_terminated = vtrace(**{**case, "terminated": terminated, "truncated": torch.zeros_like(terminated)}, gamma=0.9)[0]
    assert as_truncated[4, 1] != as_terminated[4, 1] and torch.equal(as_truncated[:, 3], as_terminated[:, 3])


@pytest.mark.parametrize("lam", [1.0, 0.8, 0.0])
def test_on_policy_without_truncation_is_the_lambda_return(lam):
    case = random_case(3)
    case["log_rhos"] = torch.zeros_like(case["rewards"])
    # within an episode V(x_{t+1}) is the next step's value; where one ends it is V(final observation)
    done = case["terminated"] | case["truncated"]
    following = torch.cat([case["values"][1:], case["next_values"][-1:]])
    case["next_values"] = torch.where(done, case["next_values"], following)
    vs, adv = vtrace(**case, gamma=0.95, lambda_=lam, rho_bar=math.inf, c_bar=math.inf, pg_rho_bar=math.inf)
    args = (case["rewards"], case["next_values"], case["terminated"], case["truncated"], 0.95)
    torch.testing.assert_close(vs, lambda_returns(*args, lam), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_the_reference_implementations_case(batch_size):
    """scalable_agent's test_vtrace: per-env discounts, ρ̄ 3.7 for targets and 2.2 for advantages."""
    T = 5
    arange = np.arange(T * batch_size, dtype=np.float64).reshape(T, batch_size)
    log_rhos = np.log(arange / batch_size / T + 1)
    discounts = np.array([[0.9 / (b + 1) for b in range(batch_size)] for _ in range(T)])
    rewards, values = arange, arange / batch_size
    bootstrap = np.arange(batch_size, dtype=np.float64) + 1.0
    next_values = np.concatenate([values[1:], bootstrap[None]])
    flags = np.zeros((T, batch_size), dtype=bool)
    vs, adv = vtrace(*(torch.tensor(x) for x in (log_rhos, rewards, values, next_values, flags, flags)),
                     gamma=torch.tensor(discounts), rho_bar=3.7, c_bar=1.0, pg_rho_bar=2.2)
    want_vs, want_adv = per_step_vtrace(log_rhos, rewards, values, next_values, flags, flags, discounts, 1.0, 3.7, 1.0, 2.2)
    np.testing.assert_allclose(vs.numpy(), want_vs, rtol=1e-12)
    np.testing.assert_allclose(adv.numpy(), want_adv, rtol=1e-12)
    # hand-worked: the last step of env 0 is rho-weighted TD to the bootstrap (rho = 1 + 4B/(5B) = 1.8 < 3.7)
    last = 4 * batch_size
    rho = last / batch_size / T + 1
    assert vs[4, 0].item() == pytest.approx(last / batch_size + rho * (last + 0.9 * 1.0 - last / batch_size))


def test_inconsistent_shapes_are_refused():
    case = random_case(4)
    with pytest.raises(ValueError, match="shape mismatch: next_values"):
        vtrace(**{**case, "next_values": case["next_values"][:, :1]}, gamma=0.9)


def test_log_probs_from_logits_and_actions():
    """scalable_agent's log-prob case: logits arange + 10 over 3 actions, read from a stored policy."""
    T, B, A = 7, 2, 3
    logits = torch.arange(T * B * A, dtype=torch.float64).reshape(T, B, A) + 10
    actions = torch.randint(0, A - 1, (T, B), generator=torch.Generator().manual_seed(0))
    head = make_model(*_cartpole_spaces(), ModelConfig()).head  # a categorical head; 2 actions is fine for pack/unpack
    r = _bare_rollout(T, B, policy=logits, actions=actions)
    got = behaviour_log_probs(type("M", (), {"head": head})(), r, log_prob_entropy)
    want = np.log(np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(-1, keepdims=True))
    np.testing.assert_allclose(got.numpy(), np.take_along_axis(want, actions.numpy()[..., None], -1)[..., 0], rtol=1e-12)


def _cartpole_spaces():
    env = make_vec_env("CartPole-v1", 1)
    spaces = env.env_observation_space, env.single_action_space
    env.close()
    return spaces


def _bare_rollout(T, N, policy, actions):
    z = torch.zeros(T, N, dtype=torch.bool)
    return Rollout(obs=torch.zeros(T, N, 4), actions=actions, policy=policy, values=torch.zeros(T, N),
                   rewards=torch.zeros(T, N), terminated=z, truncated=z, reset_step=z, last_value=torch.zeros(N),
                   episode_start=z, memory=torch.zeros(T, 0, N, 0))


def _collect(policy: str, seed: int = 0, T: int = 40):
    env = make_vec_env("CartPole-v1", 3, env_kwargs={"max_episode_steps": 15})  # truncations inside the rollout
    torch.manual_seed(seed)
    model = make_model(env.env_observation_space, env.single_action_space, ModelConfig(policy=policy))
    collector = RolloutCollector(env, model, T, torch.device("cpu"))
    collector.reset(seed=seed)
    collector.collect()
    rollout = collector.collect()  # the second: an LSTM starts it from a carried memory
    env.close()
    assert rollout.truncated.any()
    return model, rollout


@pytest.mark.parametrize("policy", ["mlp", "lstm"])
def test_estimator_on_policy_with_no_truncation_is_the_lambda_return_of_the_stored_values(policy):
    """With the model that acted, the estimator's recomputed log-probs and values are the stored
    ones (ρ = 1, the LSTM replayed from the stored memory): V-trace is the λ-return."""
    model, r = _collect(policy)
    estimator = A2CAlgorithm(model, A2CConfig(device="cpu")).build_estimator("vtrace", 0.97, 0.9)
    estimator.rho_bar = estimator.c_bar = estimator.pg_rho_bar = math.inf
    adv, vs, keep = estimator(r, model)
    _, want, want_keep = LambdaReturn(0.97, 0.9)(r)
    torch.testing.assert_close(vs, want, rtol=1e-5, atol=1e-5)
    assert torch.equal(keep, want_keep)


def test_estimator_off_policy_equals_the_function_with_hand_computed_ratios():
    behaviour, r = _collect("mlp", seed=1)
    torch.manual_seed(5)
    target = make_model(*_cartpole_spaces(), ModelConfig())
    with torch.no_grad():  # far from the near-uniform behaviour policy (its head starts at std 0.01)
        for p in target.head.parameters():
            p.normal_()
    estimator = VTrace(0.99, 1.0, rho_bar=1.0, c_bar=0.9, log_prob=log_prob_entropy)
    adv, vs, _ = estimator(r, target)
    with torch.no_grad():
        logits, values = target(r.obs.reshape(-1, 4))
        last = target.value(r.last_obs, r.last_episode_start, target.initial_memory(3))
    pi = torch.distributions.Categorical(logits=logits).log_prob(r.actions.reshape(-1)).reshape(r.actions.shape)
    mu = torch.distributions.Categorical(logits=r.policy).log_prob(r.actions)
    values = values.reshape(r.actions.shape)
    want_vs, want_adv = vtrace(pi - mu, r.rewards, values, torch.cat([values[1:], last[None]]), r.terminated,
                               r.truncated, 0.99, 1.0, 1.0, 0.9, 1.0)
    assert ((pi - mu).exp() > 1).any() and ((pi - mu).exp() < 0.9).any()  # both truncations act
    torch.testing.assert_close(vs, want_vs)
    torch.testing.assert_close(adv, want_adv)


def test_estimator_needs_the_model_and_a_log_prob_reader():
    _, r = _collect("mlp")
    with pytest.raises(ValueError, match="needs the model being trained"):
        VTrace(log_prob=log_prob_entropy)(r, None)
    with pytest.raises(ValueError, match="log_prob"):
        VTrace()(r, object())
    with pytest.raises(ValueError, match="c_bar must be > 0"):
        VTrace(c_bar=0.0)
