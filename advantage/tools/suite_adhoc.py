"""Suite rows for any env: ``advantage bench --suite --rows ALGO@ENV`` (a registered id or ``module:EnvId``).

An ad hoc row trains advantage with its defaults for the env, like a standard row; its budget
defaults to those defaults' ``trainer.total_steps`` and its threshold to the env spec's
``reward_threshold``. Stable-Baselines3 runs alongside only where rl-baselines3-zoo has settings
for the (algorithm, env) pair and the env takes no kwargs (the zoo tuned the env as registered).
"""

from __future__ import annotations

import json
from typing import Any

from advantage.algorithms import ALGORITHMS
from advantage.tools.suite_rows import SuiteRow

VALIDATIONS_PER_RUN = 20  # an ad hoc row validates every budget / 20 env steps


def is_adhoc_selector(selector: str) -> bool:
    """``ppo@mymod:MyEnv-v0`` names an ad hoc row; row names and env ids hold no ``@``."""
    return "@" in selector


def adhoc_row_name(algo: str, env: str, env_kwargs: dict[str, Any]) -> str:
    """``algo@env``, followed by the env kwargs as compact JSON when there are any."""
    kwargs = f" {json.dumps(env_kwargs, sort_keys=True, separators=(',', ':'))}" if env_kwargs else ""
    return f"{algo}@{env}{kwargs}"


def adhoc_row(selector: str, budget: int | None, threshold: float | None,
              env_kwargs: dict[str, Any] | None) -> SuiteRow:
    """The row ``ALGO@ENV`` names; ``ValueError`` (one line) for a bad selector or a missing threshold."""
    from advantage.app.defaults import default_config
    from advantage.envs.vector import check_env_id, env_spec
    from advantage.tools.zoo import ZOO_HYPERPARAMS

    algo, _, env = selector.partition("@")  # env ids may hold ':' (module:EnvId), never '@'
    if algo not in ALGORITHMS or not env:
        raise ValueError(f"bad suite row {selector!r}: write ALGO@ENV with ALGO one of {', '.join(ALGORITHMS)} "
                         "and ENV an env id, e.g. ppo@CartPole-v1 or ppo@mymod:MyEnv-v0")
    check_env_id(env)
    if budget is None:
        budget = default_config(algo, env).trainer.total_steps
    if budget < 1:
        raise ValueError(f"--budget must be a positive number of env steps, got {budget}")
    if threshold is None:
        threshold = env_spec(env).reward_threshold
        if threshold is None:
            raise ValueError(f"{env} has no reward_threshold in its spec: give the return to reach with --threshold")
    env_kwargs = env_kwargs or {}
    zoo = algo if (algo, env) in ZOO_HYPERPARAMS and not env_kwargs else None
    return SuiteRow(adhoc_row_name(algo, env, env_kwargs), algo, env, int(budget), float(threshold),
                    max(budget // VALIDATIONS_PER_RUN, 1), zoo=zoo, env_kwargs=env_kwargs)
