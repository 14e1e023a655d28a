"""What the API accepts as an environment, and how an agent makes more of it.

``PPO(env)`` takes, as a user has it:

- an id: ``"CartPole-v1"``, or ``"mymod:MyEnv-v0"`` (Gymnasium's form: ``mymod`` is imported
  first and registers ``MyEnv-v0``);
- an ``EnvSpec``;
- a callable returning a new env (an env class, a function, ``functools.partial``);
- an env instance (``gym.make(...)`` or ``MyEnv()``): made again from its spec when it has one,
  otherwise usable for prediction and evaluation only (training needs ``num_envs`` copies);
- a Gymnasium vector env: training steps it as given (``num_envs`` is its own).

The run's ``config.env`` holds what rebuilds the env in a new process (an id, with
``config.env_kwargs``) wherever one exists; an env made by an unregistered callable is recorded
as ``callable:<module>.<name>`` and has to be passed again to ``load`` / ``resume``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

from advantage.envs.vector import EnvFactory, VecEnv, check_env_id, make_env, make_vec_env

CALLABLE_PREFIX = "callable:"
ACCEPTED = (
    "an env id (e.g. 'CartPole-v1' or 'mymod:MyEnv-v0'), a gymnasium EnvSpec, a callable returning "
    "an env, an env instance or a gymnasium vector env"
)


@dataclass
class EnvSource:
    """An agent's environment: ``id`` (what ``config.env`` records) and how to make envs."""

    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    factory: EnvFactory | None = None
    """Makes one new env where ``id`` cannot (an unregistered callable)."""
    vector_env: gym.vector.VectorEnv | None = None
    """The user's own training envs."""
    instance: gym.Env | None = None
    """A single env that cannot be made again (no spec): prediction and evaluation only."""

    def maker(self) -> str | EnvFactory:
        """What :func:`make_vec_env` / :func:`make_env` take to build this env."""
        if self.factory is not None:
            return self.factory
        if self.instance is not None:
            raise ValueError(
                "this agent's env is an instance without a spec, which cannot be copied into new envs; "
                "pass a callable returning a new env (e.g. lambda: MyEnv()) or a registered id instead"
            )
        return self.id

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        if self.vector_env is not None:
            return self.vector_env.single_observation_space, self.vector_env.single_action_space
        if self.instance is not None:
            return self.instance.observation_space, self.instance.action_space
        env = make_env(self.maker(), **self.kwargs)
        try:
            return env.observation_space, env.action_space
        finally:
            env.close()

    def make_vec(self, num_envs: int, backend: str, training: bool = True) -> VecEnv:
        """``num_envs`` envs; for training the user's vector env itself when one was given."""
        if training and self.vector_env is not None:
            return VecEnv(self.vector_env, self.id)
        return make_vec_env(self.maker(), num_envs, backend=backend, env_kwargs=self.kwargs, training=training)

    @property
    def owns_training_envs(self) -> bool:
        """False when training steps the user's vector env (which the agent must not close)."""
        return self.vector_env is None


def rebuildable_id(spec: EnvSpec) -> str:
    """``spec``'s id, prefixed with the module of its entry point when that module registered it
    elsewhere than Gymnasium (``mymod:MyEnv-v0``), so that a new process can make it again."""
    entry = spec.entry_point
    module = entry.partition(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", None)
    if spec.id in gym.registry and module and not module.startswith(("gymnasium", "ale_py", "__main__")):
        return f"{module}:{spec.id}"
    return spec.id


def _registered(spec: EnvSpec) -> bool:
    return gym.registry.get(spec.id) is spec


NOT_ENV_KWARGS = frozenset({"render_mode", "num_envs", "vectorization_mode", "vector_kwargs", "wrappers"})
"""Keys a made env's spec holds that are no constructor arguments (``make_vec`` adds the last four)."""


def _own_kwargs(spec: EnvSpec) -> dict[str, Any]:
    """The constructor kwargs an env was made with beyond its registered ones."""
    registered = gym.registry[spec.id].kwargs
    return {
        k: v for k, v in spec.kwargs.items()
        if k not in NOT_ENV_KWARGS and (k not in registered or registered[k] != v)
    }


def _label(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{CALLABLE_PREFIX}{getattr(fn, '__module__', None) or '?'}.{name}"


def env_source(env: Any, env_kwargs: dict[str, Any] | None = None) -> EnvSource:
    """Read ``env`` as one of the accepted forms; TypeError for anything else."""
    kwargs = dict(env_kwargs or {})
    made = isinstance(env, gym.vector.VectorEnv) or (isinstance(env, gym.Env) and env.spec is None)
    if kwargs and made:
        raise ValueError(
            "env_kwargs apply where advantage makes the env (an id, an EnvSpec or a callable), "
            f"not to a {type(env).__name__} that is already made"
        )
    if isinstance(env, str):
        if env.startswith(CALLABLE_PREFIX):
            raise ValueError(
                f"this run's env was made by a Python callable ({env[len(CALLABLE_PREFIX):]}), which a config "
                "cannot rebuild; pass it again, e.g. PPO.load(path, env=make_env) or PPO.resume(run_dir, env=make_env)"
            )
        check_env_id(env)
        return EnvSource(env, kwargs)
    if isinstance(env, EnvSpec):
        if _registered(env):
            return EnvSource(rebuildable_id(env), kwargs)
        return EnvSource(env.id, kwargs, factory=functools.partial(gym.make, env))
    if isinstance(env, gym.vector.VectorEnv):
        spec = getattr(env, "spec", None)
        fns = getattr(env, "env_fns", None)
        if spec is not None and gym.registry.get(spec.id) is not None:
            return EnvSource(rebuildable_id(spec), _own_kwargs(spec), vector_env=env)
        if fns:
            return EnvSource(_label(fns[0]), kwargs, factory=fns[0], vector_env=env)
        raise TypeError(
            "a vector env is accepted when it was made from a registered id or from env functions "
            "(gymnasium.make_vec, SyncVectorEnv, AsyncVectorEnv): evaluation needs to make more envs"
        )
    if isinstance(env, gym.Env):
        spec = env.spec
        if spec is not None and gym.registry.get(spec.id) is not None:
            return EnvSource(rebuildable_id(spec), {**_own_kwargs(spec), **kwargs})
        if spec is not None:
            return EnvSource(spec.id, kwargs, factory=functools.partial(gym.make, spec))
        return EnvSource(_label(type(env)), kwargs, instance=env)
    if callable(env):
        return EnvSource(_label(env), kwargs, factory=env)
    raise TypeError(f"env must be {ACCEPTED}; got {type(env).__name__}")

