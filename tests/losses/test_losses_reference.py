"""Loss values and gradients against an independent, per-sample reference.

The references loop over samples in Python and build each sample's log-probability and entropy
from explicit formulas on 0-d float64 tensors (a max-shifted softmax over the allowed actions;
the Gaussian density written out). Autograd through that loop gives the reference gradients, so
the only thing shared with the library's vectorised code is torch's elementary arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch.distributions import Categorical, Independent, Normal

from advantage.losses import (
    a2c_data,
    a2c_error,
    log_prob_entropy,
    pg_data,
    pg_error,
    ppo_data,
    ppo_error,
    ppo_policy_data,
    ppo_policy_error,
    ppo_value_data,
    ppo_value_error,
)

F64 = torch.float64
B = 48
N_ACTIONS = 6
DIMS = 2
TOL = {"rtol": 1e-10, "atol": 1e-12}
LOG_2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- per-sample references


def val(t: torch.Tensor) -> float:
    """A 0-d tensor's value as a float, outside autograd (used only to choose branches)."""
    return float(t.detach())


def ref_categorical(row: torch.Tensor, action: int, allowed: list[bool] | None = None):
    """log π(action) and entropy of one row of logits: explicit softmax over allowed actions."""
    idx = [j for j in range(row.shape[0]) if allowed is None or allowed[j]]
    shift = max(val(row[j]) for j in idx)
    log_z = torch.log(sum(torch.exp(row[j] - shift) for j in idx))
    logp = {j: row[j] - shift - log_z for j in idx}
    entropy = -sum(torch.exp(logp[j]) * logp[j] for j in idx)
    return logp[action], entropy


def ref_gaussian(mu: torch.Tensor, sigma: torch.Tensor, action: torch.Tensor):
    """Diagonal Gaussian log-density and entropy of one sample, summed over action dimensions."""
    logp = sum(
        -((action[d] - mu[d]) ** 2) / (2 * sigma[d] ** 2) - torch.log(sigma[d]) - 0.5 * LOG_2PI
        for d in range(mu.shape[0])
    )
    entropy = sum(0.5 + 0.5 * LOG_2PI + torch.log(sigma[d]) for d in range(mu.shape[0]))
    return logp, entropy


@dataclass
class Case:
    """A policy in one of the supported ``logit`` forms, with its per-sample reference."""

    form: str
    leaves: list[torch.Tensor]  # what gradients are taken with respect to
    old: list[torch.Tensor]  # a perturbed, constant copy: the PPO behaviour policy
    action: torch.Tensor
    build: Callable[[list[torch.Tensor]], Any]  # leaves -> the library's ``logit`` field
    ref: Callable[[list[torch.Tensor], int], tuple[torch.Tensor, torch.Tensor]]
    mask: Any = None

    def logit(self) -> Any:
        return self.build(self.leaves)

    def logit_old(self) -> Any:
        return self.build(self.old)

    def ref_terms(self, leaves: list[torch.Tensor] | None = None):
        """Per-sample lists ``(logp, entropy)`` from the reference."""
        leaves = self.leaves if leaves is None else leaves
        pairs = [self.ref(leaves, i) for i in range(B)]
        return [p[0] for p in pairs], [p[1] for p in pairs]


FORMS = [
    "discrete",
    "masked",
    "distribution",
    "gaussian",
    "gaussian_distribution",
    "multi_discrete",
    "multi_discrete_masked",
]


def _random_mask(gen: torch.Generator, n: int) -> torch.Tensor:
    mask = torch.rand(B, n, generator=gen) < 0.6
    mask[torch.arange(B), torch.randint(0, n, (B,), generator=gen)] = True
    return mask


def _sample(gen: torch.Generator, mask: torch.Tensor) -> torch.Tensor:
    return torch.multinomial(mask.double(), 1, generator=gen).squeeze(-1)


def make_case(form: str, seed: int = 0) -> Case:
    """Random float64 inputs for ``form``; the old policy is the new one plus noise of scale ~1."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=F64)

    if form in ("discrete", "masked", "distribution"):
        logits = randn(B, N_ACTIONS)
        mask = _random_mask(gen, N_ACTIONS) if form == "masked" else None
        action = _sample(gen, torch.ones(B, N_ACTIONS, dtype=torch.bool) if mask is None else mask)
        old = [logits + randn(B, N_ACTIONS)]
        allowed = None if mask is None else mask.tolist()

        def ref(leaves, i):
            return ref_categorical(leaves[0][i], int(action[i]), allowed and allowed[i])

        def build(leaves):
            return Categorical(logits=leaves[0]) if form == "distribution" else leaves[0]

        return Case(form, [logits.requires_grad_()], old, action, build, ref, mask)

    if form in ("gaussian", "gaussian_distribution"):
        mu = randn(B, DIMS)
        sigma = 0.5 + torch.rand(B, DIMS, generator=gen, dtype=F64)
        action = mu + sigma * randn(B, DIMS)
        old = [
            mu + 0.6 * randn(B, DIMS),
            sigma * torch.exp(0.3 * randn(B, DIMS)),
        ]

        def ref(leaves, i):
            return ref_gaussian(leaves[0][i], leaves[1][i], action[i])

        def build(leaves):
            return tuple(leaves) if form == "gaussian" else Independent(Normal(*leaves), 1)

        return Case(form, [mu.requires_grad_(), sigma.requires_grad_()], old, action, build, ref)

    assert form in ("multi_discrete", "multi_discrete_masked")
    sizes = (3, 5, 2) if form == "multi_discrete" else (4, 3)
    parts = [randn(B, n) for n in sizes]
    masks = [_random_mask(gen, n) for n in sizes] if form == "multi_discrete_masked" else None
    full = [torch.ones(B, n, dtype=torch.bool) for n in sizes]
    action = torch.stack([_sample(gen, m) for m in (masks or full)], dim=-1)
    old = [p + randn(*p.shape) for p in parts]
    allowed = [m.tolist() for m in masks] if masks else None

    def ref(leaves, i):
        terms = [
            ref_categorical(leaves[k][i], int(action[i, k]), allowed and allowed[k][i])
            for k in range(len(sizes))
        ]
        return sum(t[0] for t in terms), sum(t[1] for t in terms)

    return Case(form, [p.requires_grad_() for p in parts], old, action, list, ref, masks)


def make_batch(seed: int, mixed: bool = True) -> dict[str, torch.Tensor]:
    """Advantages (mixed sign, or all positive), returns, values and positive weights."""
    gen = torch.Generator().manual_seed(1000 + seed)
    adv = 2 * torch.randn(B, generator=gen, dtype=F64)
    if not mixed:
        adv = adv.abs() + 0.1
    value_old = torch.randn(B, generator=gen, dtype=F64)
    return {
        "adv": adv,
        "return_": value_old + torch.randn(B, generator=gen, dtype=F64),
        "value_old": value_old,
        "value": (value_old + 0.5 * torch.randn(B, generator=gen, dtype=F64)).requires_grad_(),
        "weight": 0.5 + torch.rand(B, generator=gen, dtype=F64),
    }


def ref_ppo_policy(case: Case, adv, weight, clip_ratio, dual_clip, leaves=None):
    """Per-sample PPO clipped (and dual-clipped) surrogate; returns losses, ratios and info."""
    logp, entropy = case.ref_terms(leaves)
    logp_old, _ = case.ref_terms(case.old)
    lo, hi = 1 - clip_ratio, 1 + clip_ratio
    objectives, ratios = [], []
    for i in range(B):
        a, lp_old = adv[i], logp_old[i].detach()
        r = torch.exp(logp[i] - lp_old)
        r_clip = r if lo <= val(r) <= hi else torch.tensor(min(max(val(r), lo), hi), dtype=F64)
        s1, s2 = r * a, r_clip * a
        obj = s1 if val(s1) <= val(s2) else s2
        if dual_clip is not None and a < 0 and val(obj) < dual_clip * a:
            obj = torch.tensor(dual_clip * a, dtype=F64)
        objectives.append(weight[i] * obj)
        ratios.append(val(r))
    log_ratios = [math.log(r) for r in ratios]
    info = {
        "k1": sum(-x for x in log_ratios) / B,
        "k3": sum((r - 1) - x for r, x in zip(ratios, log_ratios, strict=True)) / B,
        "clipfrac": sum(r > hi or r < lo for r in ratios) / B,
    }
    policy_loss = -sum(objectives) / B
    entropy_loss = sum(w * h for w, h in zip(weight, entropy, strict=True)) / B
    return policy_loss, entropy_loss, ratios, info


def ref_ppo_value(value, value_old, return_, weight, clip_ratio, use_value_clip):
    """Per-sample half squared value error, clipped around ``value_old`` when asked."""
    total = 0
    for i in range(B):
        err = (value[i] - return_[i]) ** 2
        if use_value_clip:
            d = val(value[i]) - value_old[i]
            if -clip_ratio <= d <= clip_ratio:
                v_clip = value[i]
            else:
                v_clip = torch.tensor(value_old[i] + math.copysign(clip_ratio, d), dtype=F64)
            err_clip = (v_clip - return_[i]) ** 2
            err = err if val(err) >= val(err_clip) else err_clip
        total = total + weight[i] * err
    return 0.5 * total / B


# --------------------------------------------------------------------------------- comparisons


def grads(loss: torch.Tensor, leaves: list[torch.Tensor]) -> list[torch.Tensor]:
    out = torch.autograd.grad(loss, leaves, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(out, leaves, strict=True)]


def assert_matches(ours, reference, leaves) -> None:
    """Each loss term is a 0-d tensor equal to the reference, and so is its gradient."""
    for term, ref in zip(ours, reference, strict=True):
        assert isinstance(term, torch.Tensor) and term.dim() == 0
        torch.testing.assert_close(term, ref, **TOL)
        for g, g_ref in zip(grads(term, leaves), grads(ref, leaves), strict=True):
            assert torch.isfinite(g).all()
            torch.testing.assert_close(g, g_ref, **TOL)


def _floats(t: torch.Tensor | None) -> list[float]:
    return [1.0] * B if t is None else t.tolist()


@pytest.mark.parametrize("form", FORMS)
def test_pg_matches_reference(form):
    """PG: -mean(logp * G) and mean entropy, values and gradients, for every logit form."""
    case = make_case(form, seed=1)
    ret = make_batch(1)["return_"]
    ours = pg_error(pg_data(case.logit(), case.action, ret), action_mask=case.mask)
    logp, entropy = case.ref_terms()
    reference = (
        -sum(lp * g for lp, g in zip(logp, ret.tolist(), strict=True)) / B,
        sum(entropy) / B,
    )
    assert_matches(ours, reference, case.leaves)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("form", FORMS)
def test_a2c_matches_reference(form, weighted):
    """A2C: policy, value and entropy terms (weighted means) and their gradients."""
    case = make_case(form, seed=2)
    batch = make_batch(2)
    weight = batch["weight"] if weighted else None
    value = batch["value"]
    data = a2c_data(case.logit(), case.action, value, batch["adv"], batch["return_"], weight)
    ours = a2c_error(data, action_mask=case.mask)
    logp, entropy = case.ref_terms()
    w, adv, ret = _floats(weight), batch["adv"].tolist(), batch["return_"].tolist()
    reference = (
        -sum(w[i] * logp[i] * adv[i] for i in range(B)) / B,
        sum(w[i] * (ret[i] - value[i]) ** 2 for i in range(B)) / B,
        sum(w[i] * entropy[i] for i in range(B)) / B,
    )
    assert_matches(ours, reference, [*case.leaves, value])


def _check_coverage(ratios, adv, clip_ratio, dual_clip) -> None:
    """The inputs exercise every branch: clipped above and below, unclipped, dual clip active."""
    assert any(r > 1 + clip_ratio for r in ratios)
    assert any(r < 1 - clip_ratio for r in ratios)
    assert any(1 - clip_ratio <= r <= 1 + clip_ratio for r in ratios)
    assert any(a < 0 for a in adv) and any(a > 0 for a in adv)
    if dual_clip is not None:
        assert any(a < 0 and r > dual_clip for r, a in zip(ratios, adv, strict=True))


@pytest.mark.parametrize("dual_clip", [None, 3.0], ids=["no_dual", "dual3"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("form", FORMS)
def test_ppo_policy_matches_reference(form, weighted, dual_clip):
    """PPO policy: (dual-)clipped surrogate, entropy, gradients, approx_kl (k1, k3), clipfrac."""
    clip_ratio = 0.2
    case = make_case(form, seed=3)
    batch = make_batch(3)
    weight = batch["weight"] if weighted else None
    adv = batch["adv"].tolist()
    data = ppo_policy_data(case.logit(), case.logit_old(), case.action, batch["adv"], weight)
    ours, info = ppo_policy_error(data, clip_ratio, dual_clip, action_mask=case.mask)
    policy, entropy, ratios, ref_info = ref_ppo_policy(
        case, adv, _floats(weight), clip_ratio, dual_clip
    )
    _check_coverage(ratios, adv, clip_ratio, dual_clip)
    assert_matches(ours, (policy, entropy), case.leaves)
    assert type(info.approx_kl) is float and type(info.clipfrac) is float
    assert info.approx_kl == pytest.approx(ref_info["k1"], rel=1e-10, abs=1e-12)
    assert info.clipfrac == pytest.approx(ref_info["clipfrac"], abs=1e-7)  # float32 mean
    _, info_k3 = ppo_policy_error(
        data, clip_ratio, dual_clip, action_mask=case.mask, kl_estimator="k3"
    )
    assert type(info_k3.approx_kl) is float
    assert info_k3.approx_kl == pytest.approx(ref_info["k3"], rel=1e-10, abs=1e-12)
    assert info_k3.clipfrac == info.clipfrac


def test_ppo_old_policy_is_a_constant():
    """A logit_old still attached to logit_new's graph (as in the seed test) adds no gradient."""
    case = make_case("discrete", seed=4)
    batch = make_batch(4)
    logit_new = case.leaves[0]
    logit_old = logit_new + (case.old[0] - logit_new.detach())  # same values, graph-connected
    data = ppo_policy_data(logit_new, logit_old, case.action, batch["adv"], None)
    ours, _ = ppo_policy_error(data, 0.2, 2.0)
    policy, entropy, _, _ = ref_ppo_policy(case, batch["adv"].tolist(), [1.0] * B, 0.2, 2.0)
    assert_matches(ours, (policy, entropy), case.leaves)


@pytest.mark.parametrize("use_value_clip", [False, True], ids=["no_vclip", "vclip"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_ppo_value_matches_reference(use_value_clip, weighted):
    """PPO value: half (clipped) squared error, value and gradient, with and without weights."""
    clip_ratio = 0.2
    batch = make_batch(5)
    value, value_old, ret = batch["value"], batch["value_old"], batch["return_"]
    weight = batch["weight"] if weighted else None
    ours = ppo_value_error(
        ppo_value_data(value, value_old, ret, weight), clip_ratio, use_value_clip
    )
    reference = ref_ppo_value(
        value, value_old.tolist(), ret.tolist(), _floats(weight), clip_ratio, use_value_clip
    )
    assert_matches([ours], [reference], [value])
    # Coverage: some samples where the clipped error is the larger one, and some where not.
    v, vo, g = value.detach(), value_old, ret
    clipped = vo + (v - vo).clamp(-clip_ratio, clip_ratio)
    assert ((clipped - g) ** 2 > (v - g) ** 2 + 1e-6).any()
    assert (((v - vo).abs() > clip_ratio) & ((v - g) ** 2 > (clipped - g) ** 2 + 1e-6)).any()


def test_value_clip_changes_the_value_loss():
    """Value clipping is not a no-op on these inputs (so the comparison above means something)."""
    batch = make_batch(5)
    data = ppo_value_data(batch["value"], batch["value_old"], batch["return_"], None)
    assert ppo_value_error(data, 0.2, True) > ppo_value_error(data, 0.2, False)


@pytest.mark.parametrize("form", ["discrete", "masked", "gaussian", "multi_discrete"])
@pytest.mark.parametrize("use_value_clip", [False, True], ids=["no_vclip", "vclip"])
def test_ppo_error_matches_reference(form, use_value_clip):
    """Combined ppo_error: all three terms, their gradients and info, with weights, dual clip."""
    clip_ratio, dual_clip = 0.2, 3.0
    case = make_case(form, seed=3)
    batch = make_batch(3)
    value, weight = batch["value"], batch["weight"]
    data = ppo_data(
        case.logit(),
        case.logit_old(),
        case.action,
        value,
        batch["value_old"],
        batch["adv"],
        batch["return_"],
        weight,
    )
    ours, info = ppo_error(data, clip_ratio, use_value_clip, dual_clip, action_mask=case.mask)
    policy, entropy, ratios, ref_info = ref_ppo_policy(
        case, batch["adv"].tolist(), weight.tolist(), clip_ratio, dual_clip
    )
    _check_coverage(ratios, batch["adv"].tolist(), clip_ratio, dual_clip)
    value_loss = ref_ppo_value(
        value,
        batch["value_old"].tolist(),
        batch["return_"].tolist(),
        weight.tolist(),
        clip_ratio,
        use_value_clip,
    )
    assert_matches(ours, (policy, value_loss, entropy), [*case.leaves, value])
    assert type(info.approx_kl) is float and type(info.clipfrac) is float
    assert info.approx_kl == pytest.approx(ref_info["k1"], rel=1e-10, abs=1e-12)
    assert info.clipfrac == pytest.approx(ref_info["clipfrac"], abs=1e-7)  # float32 mean


# ------------------------------------------------------------------------------------ dual clip


def _ppo_policy(case: Case, adv, dual_clip):
    data = ppo_policy_data(case.logit(), case.logit_old(), case.action, adv, None)
    loss, _ = ppo_policy_error(data, 0.2, dual_clip)
    return loss.policy_loss, grads(loss.policy_loss, case.leaves)


@pytest.mark.parametrize("form", ["discrete", "gaussian"])
def test_dual_clip_ignores_positive_advantages(form):
    """With every advantage positive dual clip changes nothing: same loss, same nonzero grad."""
    case = make_case(form, seed=6)
    adv = make_batch(6, mixed=False)["adv"]
    _, _, ratios, _ = ref_ppo_policy(case, adv.tolist(), [1.0] * B, 0.2, None)
    # A dual clip wrongly applied to A > 0 would replace (1 + ε) A by 3 A for these samples.
    assert any(r > 1.2 for r in ratios)
    loss, g = _ppo_policy(case, adv, None)
    loss_dual, g_dual = _ppo_policy(case, adv, 3.0)
    assert torch.equal(loss, loss_dual)
    for a, b in zip(g, g_dual, strict=True):
        assert torch.equal(a, b)
        assert a.abs().sum() > 0


@pytest.mark.parametrize("form", ["discrete", "gaussian"])
def test_dual_clip_bounds_negative_advantages(form):
    """Where A < 0 and r > c, dual clip turns r·A into c·A: loss changes, those rows get no grad."""
    c = 3.0
    case = make_case(form, seed=7)
    adv = make_batch(7)["adv"]
    _, _, ratios, _ = ref_ppo_policy(case, adv.tolist(), [1.0] * B, 0.2, None)
    ratio = torch.tensor(ratios, dtype=F64)
    active = (adv < 0) & (ratio > c)
    assert active.any() and (~active).any()
    loss, g = _ppo_policy(case, adv, None)
    loss_dual, g_dual = _ppo_policy(case, adv, c)
    # Without dual clip those samples contribute -r·A / B; with it, -c·A / B.
    expected_shift = ((ratio - c) * adv)[active].sum() / B
    assert expected_shift < 0
    torch.testing.assert_close(loss_dual - loss, expected_shift, **TOL)
    for a, b in zip(g, g_dual, strict=True):
        assert (a[active] != 0).all(dim=-1).all()
        assert (b[active] == 0).all()
        torch.testing.assert_close(b[~active], a[~active], rtol=0, atol=0)


@pytest.mark.parametrize("dual_clip", [1.0, 0.5, 0.0, -2.0])
def test_dual_clip_not_above_one_is_rejected(dual_clip):
    """dual_clip <= 1 is meaningless (it would clip A < 0 below the PPO bound) and raises."""
    case = make_case("discrete")
    batch = make_batch(0)
    data = ppo_policy_data(case.logit(), case.logit_old(), case.action, batch["adv"], None)
    with pytest.raises(ValueError, match="dual_clip must be > 1"):
        ppo_policy_error(data, 0.2, dual_clip)
    full = ppo_data(
        case.logit(),
        case.logit_old(),
        case.action,
        batch["value"],
        batch["value_old"],
        batch["adv"],
        batch["return_"],
        None,
    )
    with pytest.raises(ValueError, match="dual_clip must be > 1"):
        ppo_error(full, dual_clip=dual_clip)


# ---------------------------------------------------------------------------------- action masks


def test_masked_actions_have_zero_probability():
    """Allowed actions' probabilities sum to 1 (masked ones have none); entropy, grads finite."""
    case = make_case("masked", seed=8)
    logits, mask = case.leaves[0], case.mask
    total = torch.zeros(B, dtype=F64)
    for j in range(N_ACTIONS):
        rows = mask[:, j]
        action = torch.full((int(rows.sum()),), j)
        logp, entropy = log_prob_entropy(logits[rows], action, mask[rows])
        total[rows] += logp.detach().exp()
        ref = [ref_categorical(logits[i], j, mask[i].tolist())[0] for i in rows.nonzero()[:, 0]]
        torch.testing.assert_close(logp, torch.stack(ref), **TOL)
    torch.testing.assert_close(total, torch.ones(B, dtype=F64), **TOL)
    assert (~mask).any()

    logp, entropy = log_prob_entropy(logits, case.action, mask)
    assert torch.isfinite(entropy).all()
    ref_entropy = torch.stack(case.ref_terms()[1])
    torch.testing.assert_close(entropy, ref_entropy, **TOL)
    (g,) = torch.autograd.grad((logp + entropy).sum(), [logits])
    assert torch.isfinite(g).all()
    assert (g[~mask] == 0).all()
    assert (g[mask] != 0).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_losses_are_finite_in_both_precisions(dtype):
    """PG/PPO with masks give finite losses and gradients in float32 and float64, zero on masks."""
    case = make_case("masked", seed=9)
    logits = case.leaves[0].detach().to(dtype).requires_grad_()
    adv = make_batch(9)["adv"].to(dtype)
    pg = pg_error(pg_data(logits, case.action, adv), action_mask=case.mask)
    ppo, _ = ppo_policy_error(
        ppo_policy_data(logits, case.old[0].to(dtype), case.action, adv, None),
        action_mask=case.mask,
    )
    for term in (*pg, *ppo):
        assert torch.isfinite(term)
        (g,) = torch.autograd.grad(term, [logits], retain_graph=True)
        assert torch.isfinite(g).all()
        assert (g[~case.mask] == 0).all()


def test_all_true_mask_is_no_mask():
    """A mask allowing everything gives exactly the unmasked result."""
    case = make_case("discrete", seed=10)
    ret = make_batch(10)["return_"]
    data = pg_data(case.logit(), case.action, ret)
    plain = pg_error(data)
    masked = pg_error(data, action_mask=torch.ones(B, N_ACTIONS, dtype=torch.bool))
    for a, b in zip(plain, masked, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
