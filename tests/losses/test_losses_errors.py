"""Bad inputs to the losses raise the promised error, with a message naming what is wrong.

Broadcasting would otherwise turn most of these mistakes into silently wrong losses (an ``adv`` of
shape (B, 1) against a ``value`` of shape (B,) broadcasts to (B, B)).
"""

import pytest
import torch

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

B, N = 4, 6


@pytest.fixture
def t():
    """A fresh, seeded set of valid inputs for every loss."""
    gen = torch.Generator().manual_seed(0)
    return {
        "logit": torch.randn(B, N, generator=gen),
        "action": torch.randint(0, N, (B,), generator=gen),
        "value": torch.randn(B, generator=gen),
        "adv": torch.randn(B, generator=gen),
        "return_": torch.randn(B, generator=gen),
        "weight": torch.rand(B, generator=gen),
    }


def _pg(t, **kw):
    return pg_error(
        pg_data(
            kw.get("logit", t["logit"]),
            kw.get("action", t["action"]),
            kw.get("return_", t["return_"]),
        ),
        action_mask=kw.get("mask"),
    )


def _a2c(t, **kw):
    fields = {k: kw.get(k, t[k]) for k in ("logit", "action", "value", "adv", "return_", "weight")}
    return a2c_error(a2c_data(**fields), action_mask=kw.get("mask"))


def _ppo(t, **kw):
    data = ppo_policy_data(
        kw.get("logit_new", t["logit"]),
        kw.get("logit_old", t["logit"] + 0.1),
        kw.get("action", t["action"]),
        kw.get("adv", t["adv"]),
        kw.get("weight", t["weight"]),
    )
    return ppo_policy_error(data, action_mask=kw.get("mask"))


def _ppo_full(t, **kw):
    data = ppo_data(
        kw.get("logit_new", t["logit"]),
        t["logit"] + 0.1,
        kw.get("action", t["action"]),
        kw.get("value_new", t["value"]),
        t["value"] + 0.1,
        kw.get("adv", t["adv"]),
        t["return_"],
        kw.get("weight", t["weight"]),
    )
    return ppo_error(data)


def test_valid_inputs_pass(t):
    """The fixtures themselves are valid, so each failure below is caused by the one change made."""
    _pg(t)
    _a2c(t)
    _ppo(t)
    _ppo_full(t)


# ----------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("call", [_pg, _a2c])
def test_action_logit_batch_mismatch_names_both(t, call):
    """action (B,) with logit (B+1, N): ValueError naming both fields and both shapes."""
    with pytest.raises(ValueError, match=r"action has shape \(4,\) but logit has shape \(5, 6\)"):
        call(t, logit=torch.randn(B + 1, N))


def test_action_logit_mismatch_in_ppo_names_logit_new_and_logit_old(t):
    """PPO reports the field that is wrong: logit_new or logit_old."""
    with pytest.raises(
        ValueError, match=r"action has shape \(4,\) but logit_new has shape \(5, 6\)"
    ):
        _ppo(t, logit_new=torch.randn(B + 1, N))
    with pytest.raises(
        ValueError, match=r"action has shape \(4,\) but logit_old has shape \(5, 6\)"
    ):
        _ppo(t, logit_old=torch.randn(B + 1, N))
    with pytest.raises(
        ValueError, match=r"action has shape \(4,\) but logit_new has shape \(5, 6\)"
    ):
        _ppo_full(t, logit_new=torch.randn(B + 1, N))


def test_a2c_adv_column_against_value_row(t):
    """adv (B, 1) with value (B,): ValueError naming adv and value with both shapes."""
    with pytest.raises(ValueError, match=r"adv has shape \(4, 1\) but value has shape \(4,\)"):
        _a2c(t, adv=t["adv"].unsqueeze(1))


@pytest.mark.parametrize("field", ["return_", "value"])
def test_a2c_return_and_value_shapes(t, field):
    """A (B, 1) return_ or value is rejected rather than broadcast against the other (B,) fields."""
    with pytest.raises(ValueError, match="shape mismatch"):
        _a2c(t, **{field: t[field].unsqueeze(1)})


def test_pg_return_shape(t):
    """PG rejects a return_ whose shape differs from the batch of log-probabilities."""
    with pytest.raises(ValueError, match=r"return_ has shape \(4, 1\)"):
        _pg(t, return_=t["return_"].unsqueeze(1))


def test_ppo_adv_shape(t):
    """PPO rejects an adv whose shape differs from the batch of log-probabilities."""
    with pytest.raises(ValueError, match=r"shape mismatch.*\(4, 1\)"):
        _ppo(t, adv=t["adv"].unsqueeze(1))
    with pytest.raises(ValueError, match=r"adv has shape \(4, 1\)"):
        _ppo_full(t, adv=t["adv"].unsqueeze(1))


@pytest.mark.parametrize("bad", [torch.rand(B + 1), torch.rand(B, 1), torch.rand(1)])
def test_weight_of_wrong_shape(t, bad):
    """A weight that is not exactly (B,) raises ValueError in every loss that takes one."""
    with pytest.raises(ValueError, match="weight has shape"):
        _a2c(t, weight=bad)
    with pytest.raises(ValueError, match="weight has shape"):
        _ppo(t, weight=bad)
    with pytest.raises(ValueError, match="weight has shape"):
        _ppo_full(t, weight=bad)
    data = ppo_value_data(t["value"], t["value"] + 0.1, t["return_"], bad)
    with pytest.raises(ValueError, match="weight has shape"):
        ppo_value_error(data)


def test_ppo_value_shapes(t):
    """ppo_value_error rejects value_old / return_ of another shape than value_new."""
    v, r = t["value"], t["return_"]
    with pytest.raises(ValueError, match=r"value_old has shape \(4, 1\) but value_new"):
        ppo_value_error(ppo_value_data(v, v.unsqueeze(1), r, None))
    with pytest.raises(ValueError, match=r"return_ has shape \(5,\) but value_new"):
        ppo_value_error(ppo_value_data(v, v, torch.randn(B + 1), None))


# ------------------------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("call", [_pg, _a2c])
def test_integer_logit_names_logit(t, call):
    """Integer logits raise TypeError naming the field ``logit``."""
    with pytest.raises(TypeError, match=r"^logit must be a floating-point tensor"):
        call(t, logit=torch.randint(0, 5, (B, N)))


@pytest.mark.parametrize("field", ["logit_new", "logit_old"])
def test_integer_logit_names_ppo_field(t, field):
    """In PPO the TypeError names logit_new or logit_old, whichever is integer."""
    with pytest.raises(TypeError, match=rf"^{field} must be a floating-point tensor"):
        _ppo(t, **{field: torch.randint(0, 5, (B, N))})


def test_integer_value_fields(t):
    """Integer value / adv / return_ raise TypeError naming the field."""
    for field in ("value", "adv", "return_"):
        with pytest.raises(TypeError, match=rf"^{field} must be a floating-point tensor"):
            _a2c(t, **{field: torch.ones(B, dtype=torch.long)})
    with pytest.raises(TypeError, match=r"^return_ must be a floating-point"):
        _pg(t, return_=torch.ones(B, dtype=torch.long))
    with pytest.raises(TypeError, match=r"^adv must be a floating-point"):
        _ppo(t, adv=torch.ones(B, dtype=torch.long))


def test_float_action_for_categorical(t):
    """A float action with a single logit tensor is a TypeError (it would be silently truncated)."""
    with pytest.raises(TypeError, match="action .* must be an integer tensor"):
        _pg(t, action=t["action"].float())


def test_non_tensor_logit(t):
    """A logit that is none of the supported forms raises TypeError naming the field."""
    with pytest.raises(TypeError, match="logit must be a tensor of logits"):
        _pg(t, logit="not a policy")


# ----------------------------------------------------------------------------- action values


@pytest.mark.parametrize("bad", [-1, N, N + 3])
@pytest.mark.parametrize("call", [_pg, _a2c, _ppo])
def test_action_out_of_range(t, call, bad):
    """Actions below 0 or >= N raise ValueError (torch would wrap -1 or index out of bounds)."""
    action = t["action"].clone()
    action[2] = bad
    with pytest.raises(ValueError, match=rf"action out of range.*{N} actions.*\[0, {N}\)"):
        call(t, action=action)


# --------------------------------------------------------------------------- other policy forms


def test_gaussian_mu_sigma_mismatch():
    """mu and sigma of different shapes raise ValueError naming both."""
    mu, sigma, action = torch.zeros(B, 2), torch.ones(B, 3), torch.zeros(B, 2)
    with pytest.raises(ValueError, match=r"logit\[1\] \(sigma\) has shape \(4, 3\) but logit\[0\]"):
        pg_error(pg_data((mu, sigma), action, torch.zeros(B)))


def test_gaussian_action_mismatch():
    """A Gaussian action of another shape than mu raises ValueError naming action."""
    mu, sigma = torch.zeros(B, 2), torch.ones(B, 2)
    with pytest.raises(ValueError, match=r"action has shape \(4, 3\) but logit\[0\] \(mu\)"):
        pg_error(pg_data((mu, sigma), torch.zeros(B, 3), torch.zeros(B)))


def test_gaussian_rejects_a_mask():
    """An action mask makes no sense for a Gaussian and is refused."""
    mu, sigma = torch.zeros(B, 2), torch.ones(B, 2)
    with pytest.raises(ValueError, match="discrete actions only"):
        log_prob_entropy((mu, sigma), torch.zeros(B, 2), torch.ones(B, 2, dtype=torch.bool))


@pytest.mark.parametrize("k_action", [2, 4])
def test_multi_discrete_wrong_number_of_components(k_action):
    """Three logit components with an action of 2 or 4 columns raise ValueError."""
    logits = [torch.randn(B, 3), torch.randn(B, 4), torch.randn(B, 2)]
    action = torch.zeros(B, k_action, dtype=torch.long)
    with pytest.raises(ValueError, match=rf"action has shape \(4, {k_action}\).*3 components"):
        pg_error(pg_data(logits, action, torch.zeros(B)))


def test_multi_discrete_component_out_of_range():
    """A multi-discrete action outside its own component's range is reported for that component."""
    logits = [torch.randn(B, 3), torch.randn(B, 2)]
    action = torch.zeros(B, 2, dtype=torch.long)
    action[0, 1] = 2
    with pytest.raises(ValueError, match=r"out of range.*logit\[1\] has 2 actions"):
        pg_error(pg_data(logits, action, torch.zeros(B)))


def test_multi_discrete_mask_parts():
    """A list of masks must have one part per component."""
    logits = [torch.randn(B, 3), torch.randn(B, 2)]
    action = torch.zeros(B, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="action_mask has 1 parts but logit has 2 components"):
        log_prob_entropy(logits, action, [torch.ones(B, 3, dtype=torch.bool)])


def test_unsummed_distribution_is_rejected():
    """A Normal (not Independent) gives per-dimension log-probs: a ValueError, not a broadcast."""
    dist = torch.distributions.Normal(torch.zeros(B, 2), torch.ones(B, 2))
    with pytest.raises(ValueError, match=r"return_ has shape \(4,\) but log-prob of action"):
        pg_error(pg_data(dist, torch.zeros(B, 2), torch.zeros(B)))


# ---------------------------------------------------------------------------------- masks


def test_mask_with_a_distribution_is_rejected(t):
    """A mask cannot act on a ready-made Distribution; it is refused rather than silently ignored."""
    dist = torch.distributions.Categorical(logits=t["logit"])
    mask = torch.ones(B, N, dtype=torch.bool)
    with pytest.raises(ValueError, match="action_mask cannot be applied to a torch Distribution"):
        _pg(t, logit=dist, mask=mask)
    with pytest.raises(ValueError, match=r"Distribution \(logit_new\)"):
        _ppo(t, logit_new=dist, logit_old=dist, mask=mask)


@pytest.mark.parametrize("call", [_pg, _a2c, _ppo])
def test_mask_forbidding_taken_action(t, call):
    """A mask that forbids an action that was taken raises ValueError."""
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, int(t["action"][1])] = False
    with pytest.raises(ValueError, match="forbids an action that was taken"):
        call(t, mask=mask)


def test_mask_forbidding_every_action(t):
    """A row with no allowed action raises ValueError."""
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[3] = False
    with pytest.raises(ValueError, match="forbids every action"):
        _pg(t, mask=mask)


def test_mask_dtype_and_shape(t):
    """A non-bool mask raises TypeError; a mask of another shape than the logits, ValueError."""
    with pytest.raises(TypeError, match="must be a bool tensor"):
        _pg(t, mask=torch.ones(B, N))
    with pytest.raises(ValueError, match=r"action_mask has shape \(4, 5\) but logit"):
        _pg(t, mask=torch.ones(B, N - 1, dtype=torch.bool))


# ---------------------------------------------------------------------------------- options


@pytest.mark.parametrize("clip_ratio", [0.0, -0.1])
def test_non_positive_clip_ratio(t, clip_ratio):
    """clip_ratio must be > 0 for the policy clip and for value clipping."""
    data = ppo_policy_data(t["logit"], t["logit"], t["action"], t["adv"], None)
    with pytest.raises(ValueError, match="clip_ratio must be > 0"):
        ppo_policy_error(data, clip_ratio)
    value = ppo_value_data(t["value"], t["value"], t["return_"], None)
    with pytest.raises(ValueError, match="clip_ratio must be > 0"):
        ppo_value_error(value, clip_ratio, use_value_clip=True)


def test_unknown_kl_estimator(t):
    """Only the k1 and k3 estimators exist."""
    data = ppo_policy_data(t["logit"], t["logit"], t["action"], t["adv"], None)
    with pytest.raises(ValueError, match="kl_estimator must be one of"):
        ppo_policy_error(data, kl_estimator="k2")
