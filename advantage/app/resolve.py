"""The one road from settings to a run config: the defaults tables, a config file over them, then
what the caller set (config objects from the API, flags and ``--set`` from the command line).

Every layer sets only what it names. A config object contributes the fields its constructor was
given (:func:`~advantage.settings.given_values`), so ``A2CConfig(value_coeff=0.5)`` sets 0.5
even where 0.5 is the class default and the env family's default differs; overrides are typed
values, never strings re-read as TOML. The config is built once, at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advantage.app.defaults import default_values
from advantage.settings import given_values
from advantage.training.config import RunConfig, _str_to_none, apply_overrides
from advantage.training.config_keys import read_toml

SECTIONS = ("model", "algorithm", "trainer")


def base_values(algo: str | None, env: str | None, config_file: str | Path | None = None,
                family: str | None = None) -> dict[str, Any]:
    """The layers under the caller's settings, as nested data: the defaults tables for the
    algorithm on the env (``algo`` and ``env``, else the config file's, else PPO on CartPole-v1;
    ``family`` as in :func:`~advantage.app.defaults.default_values`), then ``config_file`` over
    them (its ``[algorithm]`` table dropped when ``algo`` names another algorithm than the file)."""
    file = _str_to_none(read_toml(config_file)) if config_file is not None else {}
    if file and algo is not None and file.get("algo", "ppo") != algo:
        file.pop("algorithm", None)
    algo = algo or file.get("algo") or "ppo"
    env = env or file.get("env") or "CartPole-v1"
    values = default_values(algo, env, family)
    data: dict[str, Any] = {**values.pop("run", {}), **_str_to_none(values)}
    for key, value in file.items():
        data[key] = {**data.get(key, {}), **value} if key in SECTIONS and isinstance(value, dict) else value
    return {**data, "algo": algo, "env": env}


def resolve_config(
    algo: str | None = None,
    env: str | None = None,
    *,
    config_file: str | Path | None = None,
    family: str | None = None,
    sections: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """The run config: :func:`base_values`, then the given fields of the config objects in
    ``sections`` (``{"algorithm": A2CConfig(value_coeff=0.5), "model": ..., "trainer": ...}``),
    then ``overrides`` (``{"num_envs": 16, "trainer.seed": 1, "lr": 3e-4}``, typed values), built
    and checked once.

    Examples:
        >>> from advantage import A2CConfig
        >>> cfg = resolve_config("a2c", "CartPole-v1", sections={"algorithm": A2CConfig(value_coeff=0.5)})
        >>> cfg.algorithm.value_coeff  # the family's default is 0.4
        0.5
    """
    data = base_values(algo, env, config_file, family)
    for name, given in (sections or {}).items():
        if name not in SECTIONS:
            raise ValueError(f"unknown config section {name!r}; use one of {SECTIONS}")
        if given is None:
            continue
        expected = RunConfig.section_class(name, data.get("algo", "ppo"))
        if type(given) is not expected:
            raise TypeError(f"expected a {expected.__name__}, got a {type(given).__name__} "
                            f"(the {name} config of a {data.get('algo', 'ppo')} run)")
        data[name] = {**data.get(name, {}), **given_values(given)}
    data = apply_overrides(data, overrides or {})
    return RunConfig.from_dict(data)
