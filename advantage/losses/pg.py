"""Policy gradient (REINFORCE) loss.

Policy loss: :math:`-\\frac 1 N \\sum_n \\log \\pi(a^n|s^n) G^n` with :math:`G` the return (or an
advantage); entropy: :math:`\\frac 1 N \\sum_n H(\\pi(\\cdot|s^n))`. The training objective is
``policy_loss - entropy_coeff * entropy_loss``.
"""

from __future__ import annotations

from collections import namedtuple

from advantage.losses.policy import ActionMask, check_float, check_same_shape, log_prob_entropy

pg_data = namedtuple("pg_data", ["logit", "action", "return_"])
pg_loss = namedtuple("pg_loss", ["policy_loss", "entropy_loss"])


def pg_error(data: pg_data, action_mask: ActionMask = None) -> pg_loss:
    """REINFORCE loss terms for ``pg_data(logit, action, return_)``; both are 0-d tensors.

    Shapes:
        logit (B, A) (or a ``(mu, sigma)`` pair, a list of logits, a distribution), action (B,),
        return_ (B,); ``action_mask`` (B, A) bool.

    Examples:
        Two equally likely actions, the first taken, return 2: the policy loss is
        ``-log(1/2) * 2`` and the entropy ``log 2``.

        >>> import torch
        >>> loss = pg_error(pg_data(torch.zeros(1, 2), torch.tensor([0]), torch.tensor([2.0])))
        >>> round(loss.policy_loss.item(), 4), round(loss.entropy_loss.item(), 4)
        (1.3863, 0.6931)
    """
    logit, action, return_ = data
    logp, entropy = log_prob_entropy(logit, action, action_mask)
    check_float("return_", return_)
    check_same_shape("log-prob of action", tuple(logp.shape), return_=return_)
    policy_loss = -(logp * return_).mean()
    entropy_loss = entropy.mean()
    return pg_loss(policy_loss, entropy_loss)
