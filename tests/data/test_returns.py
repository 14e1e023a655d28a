"""Return and advantage estimators: hand-worked numbers and a forward-sum reference.

The library computes everything by a backward recursion over time. The reference here instead
sums forward, per environment, from each step to the end of its episode segment (the first step
that is terminated or truncated, or the rollout's last step), so a mistake in the recursion
(a dropped reward, an undiscounted bootstrap, a boundary that leaks) shows up as a mismatch.
"""

import pytest
import torch

from advantage.data.returns import gae, lambda_returns, nstep_returns

F64 = torch.float64


def col(*xs):
    """A (T, 1) float64 tensor: one environment."""
    return torch.tensor(xs, dtype=F64).unsqueeze(1)


def flags(*xs):
    return torch.tensor(xs, dtype=torch.bool).unsqueeze(1)


def assert_close(actual, expected):
    if not isinstance(expected, torch.Tensor):
        expected = col(*expected)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------------------------- hand-worked


def test_terminal_reward_is_discounted_back_without_bootstrap():
    """Rewards [0, 0, 10], γ=0.99, terminated at the end: [9.801, 9.9, 10]; V(final) is unused."""
    rewards, next_values = col(0, 0, 10), col(7, 8, 5)
    term, trunc = flags(0, 0, 1), flags(0, 0, 0)
    expected = [9.801, 9.9, 10.0]
    assert_close(nstep_returns(rewards, next_values, term, trunc, 0.99), expected)
    assert_close(lambda_returns(rewards, next_values, term, trunc, 0.99, 1.0), expected)
    zeros = torch.zeros_like(rewards)
    _, returns = gae(rewards, zeros, zeros, term, trunc, 0.99, 1.0)
    assert_close(returns, expected)


@pytest.mark.parametrize("ending", ["truncated", "rollout_end"])
def test_unfinished_last_step_bootstraps_discounted_value(ending):
    """A truncated (or simply unfinished) last step adds γ·V(s_T): [14.652495, 14.8005, 14.95]."""
    rewards, next_values = col(0, 0, 10), col(7, 8, 5)
    term = flags(0, 0, 0)
    trunc = flags(0, 0, 1) if ending == "truncated" else flags(0, 0, 0)
    # G2 = 10 + 0.99·5 = 14.95, G1 = 0.99·14.95, G0 = 0.99²·14.95.
    expected = [14.652495, 14.8005, 14.95]
    assert_close(nstep_returns(rewards, next_values, term, trunc, 0.99), expected)
    assert_close(lambda_returns(rewards, next_values, term, trunc, 0.99, 1.0), expected)


def test_episode_boundary_mid_rollout():
    """Termination at t=1 cuts later rewards off; truncation there bootstraps next_values[1]."""
    rewards, next_values = col(1, 2, 3, 4), col(100, 6, 100, 10)
    gamma, none = 0.5, flags(0, 0, 0, 0)
    at_1 = flags(0, 1, 0, 0)
    # After the boundary: G3 = 4 + 0.5·10 = 9, G2 = 3 + 0.5·9 = 7.5 (the 100s are never used).
    assert_close(nstep_returns(rewards, next_values, at_1, none, gamma), [2.0, 2.0, 7.5, 9.0])
    # Truncated: G1 = 2 + 0.5·6 = 5, G0 = 1 + 0.5·5 = 3.5.
    assert_close(nstep_returns(rewards, next_values, none, at_1, gamma), [3.5, 5.0, 7.5, 9.0])
    # Without a boundary: G1 = 2 + 0.5·7.5 = 5.75, G0 = 1 + 0.5·5.75 = 3.875.
    assert_close(nstep_returns(rewards, next_values, none, none, gamma), [3.875, 5.75, 7.5, 9.0])
    # Both flags at once: termination wins (no bootstrap).
    assert_close(nstep_returns(rewards, next_values, at_1, at_1, gamma), [2.0, 2.0, 7.5, 9.0])


@pytest.mark.parametrize(
    "ending, expected_adv",
    [("truncated", [4.172, 2.6]), ("terminated", [1.58, -1.0])],
)
def test_gae_last_step_by_hand(ending, expected_adv):
    """GAE, γ=0.9, λ=0.8: a truncated last step keeps γ·V(final obs), a terminated one drops it."""
    rewards, values, next_values = col(1, 1), col(0.5, 2.0), col(2.0, 4.0)
    term = flags(0, ending == "terminated")
    trunc = flags(0, ending == "truncated")
    # δ1 = 1 + 0.9·4 − 2 = 2.6 (or 1 − 2 = −1); δ0 = 1 + 0.9·2 − 0.5 = 2.3; A0 = δ0 + 0.72·A1.
    adv, ret = gae(rewards, values, next_values, term, trunc, 0.9, 0.8)
    assert_close(adv, expected_adv)
    assert_close(ret, [expected_adv[0] + 0.5, expected_adv[1] + 2.0])


def test_gae_truncation_mid_rollout_by_hand():
    """Truncated at t=0: A0 = r0 + γ·V(final obs) − V0 and carries nothing from the next episode."""
    rewards, values, next_values = col(1, 1, 1), col(0.5, 3.0, 2.0), col(2.0, 2.0, 4.0)
    adv, _ = gae(rewards, values, next_values, flags(0, 0, 0), flags(1, 0, 0), 0.9, 0.8)
    # δ = [2.3, −0.2, 2.6]; A2 = 2.6, A1 = −0.2 + 0.72·2.6 = 1.672, A0 = δ0 = 2.3.
    assert_close(adv, [2.3, 1.672, 2.6])


# ------------------------------------------------------------------------ forward-sum reference


def segment_end(done, t):
    """Last step of the episode segment containing t: the first done step >= t, else T - 1."""
    k = t
    while k < len(done) - 1 and not done[k]:
        k += 1
    return k


def ref_n_step(r, nv, term, t, n, gamma):
    """n-step target from t: n discounted rewards, then γ^n V unless the n-th step terminated."""
    end = t + n - 1
    bootstrap = 0.0 if term[end] else nv[end]
    return sum(gamma**k * r[t + k] for k in range(n)) + gamma**n * bootstrap


def reference(rewards, values, next_values, terminated, truncated, gamma, lambda_):
    """Per-env, per-step forward sums: (n-step returns, λ-returns, GAE advantages), each (T, N)."""
    T, N = rewards.shape
    out = [torch.zeros(T, N, dtype=F64) for _ in range(3)]
    for e in range(N):
        r, v, nv = rewards[:, e].tolist(), values[:, e].tolist(), next_values[:, e].tolist()
        term = [bool(x) for x in terminated[:, e]]
        done = [bool(a) or bool(b) for a, b in zip(terminated[:, e], truncated[:, e], strict=True)]
        for t in range(T):
            length = segment_end(done, t) - t + 1
            out[0][t, e] = ref_n_step(r, nv, term, t, length, gamma)
            mixed = sum(
                (1 - lambda_) * lambda_ ** (n - 1) * ref_n_step(r, nv, term, t, n, gamma)
                for n in range(1, length)
            )
            out[1][t, e] = mixed + lambda_ ** (length - 1) * ref_n_step(
                r, nv, term, t, length, gamma
            )
            deltas = [r[k] + gamma * (0.0 if term[k] else nv[k]) - v[k] for k in range(T)]
            out[2][t, e] = sum((gamma * lambda_) ** k * deltas[t + k] for k in range(length))
    return out


def rollout(consistent=True, seed=0):
    """T=8, N=4 with different done patterns (none; both kinds mid-rollout; both flags at once).

    With ``consistent``, ``next_values[t] = values[t+1]`` wherever the episode goes on, as in a real
    rollout; otherwise every next value is independent noise.
    """
    gen = torch.Generator().manual_seed(seed)
    T, N = 8, 4
    terminated = torch.zeros(T, N, dtype=torch.bool)
    truncated = torch.zeros(T, N, dtype=torch.bool)
    terminated[2, 1] = truncated[5, 1] = True
    truncated[0, 2] = terminated[3, 2] = terminated[7, 2] = True
    terminated[4, 3] = truncated[4, 3] = truncated[7, 3] = True
    rewards = torch.randn(T, N, generator=gen, dtype=F64)
    values = torch.randn(T, N, generator=gen, dtype=F64)
    next_values = torch.randn(T, N, generator=gen, dtype=F64)
    if consistent:
        goes_on = ~(terminated | truncated)[:-1]
        next_values[:-1] = torch.where(goes_on, values[1:], next_values[:-1])
    return rewards, values, next_values, terminated, truncated


@pytest.mark.parametrize("lambda_", [0.0, 0.5, 0.95, 1.0])
@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_all_estimators_match_forward_reference(gamma, lambda_):
    """Several envs with different done patterns: every estimator equals the per-env reference."""
    rewards, values, next_values, term, trunc = rollout(consistent=False)
    ref_nstep, ref_lambda, ref_adv = reference(
        rewards, values, next_values, term, trunc, gamma, lambda_
    )
    assert_close(nstep_returns(rewards, next_values, term, trunc, gamma), ref_nstep)
    assert_close(lambda_returns(rewards, next_values, term, trunc, gamma, lambda_), ref_lambda)
    adv, ret = gae(rewards, values, next_values, term, trunc, gamma, lambda_)
    assert_close(adv, ref_adv)
    assert_close(ret, ref_adv + values)


def test_gae_lambda_one_zero_values_is_monte_carlo():
    """λ=1, zero values: GAE advantages and returns are the discounted reward sums per episode."""
    rewards, _, _, term, trunc = rollout()
    zeros = torch.zeros_like(rewards)
    T, N = rewards.shape
    mc = torch.zeros(T, N, dtype=F64)
    for e in range(N):
        done = (term | trunc)[:, e].tolist()
        for t in range(T):
            mc[t, e] = sum(
                0.99 ** (k - t) * rewards[k, e] for k in range(t, segment_end(done, t) + 1)
            )
    adv, ret = gae(rewards, zeros, zeros, term, trunc, 0.99, 1.0)
    assert_close(adv, mc)
    assert_close(ret, mc)
    assert_close(nstep_returns(rewards, zeros, term, trunc, 0.99), mc)


def test_gae_lambda_zero_is_td_error():
    """λ=0: advantages are r + γ(1 − terminated)V' − V, truncated steps included."""
    rewards, values, next_values, term, trunc = rollout(consistent=False)
    td = rewards + 0.9 * (~term).to(F64) * next_values - values
    adv, ret = gae(rewards, values, next_values, term, trunc, 0.9, 0.0)
    assert_close(adv, td)
    assert_close(lambda_returns(rewards, next_values, term, trunc, 0.9, 0.0), td + values)
    assert (trunc & (td != rewards - values)).any()  # truncation really bootstraps here


@pytest.mark.parametrize("lambda_", [0.0, 0.3, 0.95, 1.0])
def test_gae_returns_are_advantages_plus_values_and_lambda_returns(lambda_):
    """GAE returns = advantages + values = λ-returns, when next_values agree with values."""
    rewards, values, next_values, term, trunc = rollout(consistent=True, seed=1)
    adv, ret = gae(rewards, values, next_values, term, trunc, 0.97, lambda_)
    torch.testing.assert_close(ret, adv + values, rtol=0, atol=0)
    assert_close(ret, lambda_returns(rewards, next_values, term, trunc, 0.97, lambda_))


def test_lambda_one_is_nstep():
    """λ-returns with λ=1 are the n-step returns, even for arbitrary next_values."""
    rewards, _, next_values, term, trunc = rollout(consistent=False, seed=2)
    assert_close(
        lambda_returns(rewards, next_values, term, trunc, 0.95, 1.0),
        nstep_returns(rewards, next_values, term, trunc, 0.95),
    )


def test_nstep_uses_next_values_only_at_boundaries():
    """Inside an episode n-step returns ignore next_values; only done steps and t=T-1 read them."""
    rewards, _, next_values, term, trunc = rollout(consistent=False, seed=3)
    base = nstep_returns(rewards, next_values, term, trunc, 0.9)
    used = term | trunc
    used[-1] = True
    shifted = torch.where(used, next_values, next_values + 100.0)
    assert_close(nstep_returns(rewards, shifted, term, trunc, 0.9), base)
    # ... but those at truncations and the rollout end do matter.
    moved = torch.where(trunc & ~term, next_values + 1.0, next_values)
    assert not torch.allclose(nstep_returns(rewards, moved, term, trunc, 0.9), base)


# ---------------------------------------------------------------------------- input handling


def _calls(rewards, values, next_values, term, trunc):
    return {
        "nstep_returns": lambda: nstep_returns(rewards, next_values, term, trunc, 0.9),
        "gae": lambda: gae(rewards, values, next_values, term, trunc, 0.9, 0.95),
        "lambda_returns": lambda: lambda_returns(rewards, next_values, term, trunc, 0.9, 0.95),
    }


@pytest.mark.parametrize("name", ["nstep_returns", "gae", "lambda_returns"])
@pytest.mark.parametrize("flag_dtype", [torch.bool, F64])
def test_inputs_are_not_modified(name, flag_dtype):
    """Every input tensor is bit-identical after the call (and outputs are new tensors)."""
    rewards, values, next_values, term, trunc = rollout()
    inputs = [rewards, values, next_values, term.to(flag_dtype), trunc.to(flag_dtype)]
    before = [x.clone() for x in inputs]
    out = _calls(*inputs)[name]()
    for x, x0 in zip(inputs, before, strict=True):
        assert torch.equal(x, x0)
    for o in out if isinstance(out, tuple) else (out,):
        assert all(o.data_ptr() != x.data_ptr() for x in inputs)
        assert o.shape == rewards.shape and o.dtype == F64


@pytest.mark.parametrize("name", ["nstep_returns", "gae", "lambda_returns"])
def test_bool_and_float_flags_agree(name):
    """Flags given as bool, float 0/1 or int 0/1 give identical results."""
    rewards, values, next_values, term, trunc = rollout(consistent=False)
    results = [
        _calls(rewards, values, next_values, term.to(dtype), trunc.to(dtype))[name]()
        for dtype in (torch.bool, torch.float32, F64, torch.int64)
    ]
    for other in results[1:]:
        for a, b in zip(torch.atleast_1d(results[0]), torch.atleast_1d(other), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("bad", ["rewards", "values", "next_values", "term", "trunc"])
def test_mismatched_shapes_raise(bad):
    """Any input of another shape ((T, N+1) or (T-1, N)) raises ValueError naming the shapes."""
    args = dict(zip(["rewards", "values", "next_values", "term", "trunc"], rollout(), strict=True))
    for wrong in (torch.zeros(8, 5, dtype=args[bad].dtype), args[bad][:-1]):
        calls = _calls(**{**args, bad: wrong})
        names = ["gae"] if bad == "values" else list(calls)
        for name in names:
            with pytest.raises(ValueError, match=r"shape mismatch: \w+ has shape"):
                calls[name]()


def test_scalar_inputs_raise():
    """0-d tensors (no time axis) raise ValueError."""
    x, f = torch.tensor(1.0), torch.tensor(False)
    with pytest.raises(ValueError, match="leading time dimension"):
        nstep_returns(x, x, f, f, 0.9)


def test_backward_scan_numpy_loop_gives_torch_loops_bits():
    """On the CPU the scan runs over numpy views; it must give exactly (atol 0) what the torch
    loop gives: the same float32 operations in the same order. A tensor that requires grad takes
    the torch loop (gradients flow through it)."""
    from advantage.data.returns import backward_scan

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=g)
    decay = 0.99 * 0.95 * (torch.rand(300, 3, generator=g) > 0.05).float()
    expected = torch.empty_like(x)
    running = torch.zeros(3)
    for t in range(299, -1, -1):
        running = x[t] + decay[t] * running
        expected[t] = running
    assert torch.equal(backward_scan(x, decay), expected)
    leaf = x.clone().requires_grad_()
    out = backward_scan(leaf, decay)
    out.sum().backward()
    assert torch.equal(out.detach(), expected) and leaf.grad is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("flag_dtype", [torch.bool, torch.float32])
def test_nstep_and_gae_numpy_paths_give_the_torch_paths_bits(dtype, flag_dtype):
    """On the CPU nstep_returns and gae run on numpy views; a rewards tensor that requires grad
    takes the torch ops. Both must give the same bits (atol 0), episode ends of both kinds, odd
    γ and λ (whose float32 rounding the two libraries must apply alike) and A2C's tiny shape
    included."""
    g = torch.Generator().manual_seed(1)
    for T, N in ((5, 8), (37, 3)):
        rewards = torch.randn(T, N, generator=g, dtype=dtype)
        values, next_values = torch.randn(T, N, generator=g, dtype=dtype), torch.randn(T, N, generator=g, dtype=dtype)
        terminated = (torch.rand(T, N, generator=g) < 0.15).to(flag_dtype)
        truncated = (torch.rand(T, N, generator=g) < 0.15).to(flag_dtype)
        grad = rewards.clone().requires_grad_()
        fast = nstep_returns(rewards, next_values, terminated, truncated, 0.987)
        slow = nstep_returns(grad, next_values, terminated, truncated, 0.987)
        assert slow.requires_grad and fast.dtype == dtype
        assert torch.equal(fast, slow.detach())
        fast_adv, fast_ret = gae(rewards, values, next_values, terminated, truncated, 0.987, 0.913)
        slow_adv, slow_ret = gae(grad, values, next_values, terminated, truncated, 0.987, 0.913)
        assert slow_adv.requires_grad and fast_adv.dtype == dtype
        assert torch.equal(fast_adv, slow_adv.detach()) and torch.equal(fast_ret, slow_ret.detach())
