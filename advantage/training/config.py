"""Run configuration: trainer settings, the whole-run config, TOML files and ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from advantage.algorithms import ALGORITHMS, AlgoConfig, algorithm_spec
from advantage.algorithms.spec import BACKENDS as DISTRIBUTED
from advantage.data.estimators import RETURN_ESTIMATORS
from advantage.envs.vector import BACKENDS
from advantage.models import ModelConfig
from advantage.settings import Settings
from advantage.training.config_keys import parse_value as _parse_value
from advantage.training.config_keys import read_toml
from advantage.training.config_keys import resolve_key as _resolve_key


@dataclass
class TrainerConfig(Settings):
    """The training loop: budget, rollout shape, returns, validation, logging, checkpoints."""

    total_steps: int = 100_000
    """Environment steps to train for (all envs together)."""
    nsteps: int = 128
    """Rollout length T per env; one update per T × num_envs steps."""
    gamma: float = 0.99
    """Discount factor."""
    lambda_: float = 0.95
    """λ of GAE and of λ-returns."""
    returns: str = "auto"
    """Return estimator: gae, nstep, lambda, mc, or auto (the algorithm's own: PPO gae, A2C nstep, PG mc)."""
    validate_freq: int = 10_000
    """Environment steps between validations on separate envs; 0 disables validation."""
    num_val_episodes: int = 10
    """Episodes per validation (one per validation env)."""
    max_val_steps: int = 10_000
    """Step cap of one validation episode."""
    val_deterministic: bool = True
    """Validate the greedy policy (True) or the stochastic one (False)."""
    target_return: float | None = None
    """Stop as soon as a validation's mean return reaches this; None trains the full budget."""
    log_dir: str = "runs"
    """Parent directory of run directories."""
    log_freq: int = 2_000
    """Environment steps between metric rows."""
    save_freq: int = 50_000
    """Environment steps between checkpoints; 0 saves only at the end."""
    keep_checkpoints: int = 3
    """Periodic checkpoints kept (the newest ones)."""
    seed: int = 0
    """Seed of torch, numpy and the environments."""
    torch_threads: int = 0
    """Torch CPU threads; 0 picks 1 for small MLPs (faster at small batches) and, for CNNs, the
    cores the run's Ray workers leave free (all of them on a local run)."""
    tensorboard: bool = True
    """Write TensorBoard event files next to metrics.csv."""
    numpy_act: bool = False
    """MLP policies on the CPU, feed-forward or LSTM, with a Gaussian, gSDE or categorical head
    (action masks included): collect rollouts acting with numpy on views of the weights (~8x less
    time per step at one env, 3-4.5x at A2C's 8-16 envs; see ``training/numpy_act.py``). Gaussian and gSDE heads
    draw the same noise as the torch path (float32 rounding apart the same actions); categorical
    heads sample by the inverse CDF on ``torch.rand`` uniforms (the same probabilities, other
    draws than ``torch.multinomial``'s, governed by the same seed). Other models (CNN,
    MultiDiscrete, MultiBinary), and False, act with the model's own torch ``act``. Off here; on
    in the defaults of the env families whose suite rows were checked on 3 seeds with it
    (``app/defaults.toml``: classic control and MuJoCo PPO), as the rounding (and, for discrete
    actions, the draws) takes a run along another trajectory. The run's last line names the path
    taken."""
    lean_env_step: bool = True
    """Collect rollouts stepping the envs of the sync backend (Gymnasium's ``SyncVectorEnv`` of Box
    observations, without action masks) directly from advantage's vector env, which leaves out
    Gymnasium's generic batching (action iteration, info merging, ``concatenate``, ``deepcopy``):
    the same observations, rewards, flags, env state and errors (~30 µs less a step at one MuJoCo
    env, ~10% of a PPO Hopper step; see ``VecEnv.step_lean``). Other backends and spaces, and False,
    step through Gymnasium's vector env."""
    deterministic: bool = False
    """Use only deterministic torch kernels; with the sync or vector env backend on CPU a resumed
    run then ends bit for bit where an uninterrupted one does."""
    # The specification's fields that advantage has no other name for (its TrainerConfig's others
    # are above under the same names). Each works, or only its supported value is accepted.
    train_mode: str = "nstep"
    """nstep (learn from every rollout of nsteps steps) or onestep (learn after every step: nsteps = 1)."""
    log_scalars: bool = True
    """Write metrics.csv and TensorBoard events to the run directory; False writes neither."""
    model_dir: str | None = None
    """Must stay None: checkpoints are written to ``<run_dir>/checkpoints``, where resume finds them."""
    update_target_freq: int = 0
    """Must stay 0: target networks belong to off-policy agents, and advantage's are on-policy."""
    render_freq: int = 0
    """Must stay 0: to watch a policy, record a video (``advantage eval RUN --video out.gif``)."""

    def __post_init__(self) -> None:
        checks = {
            "total_steps": self.total_steps >= 1, "nsteps": self.nsteps >= 1,
            "num_val_episodes": self.num_val_episodes >= 1, "max_val_steps": self.max_val_steps >= 1,
            "validate_freq": self.validate_freq >= 0, "log_freq": self.log_freq >= 1,
            "save_freq": self.save_freq >= 0, "keep_checkpoints": self.keep_checkpoints >= 1,
            "torch_threads": self.torch_threads >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"trainer.{name} is out of range: {getattr(self, name)}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"trainer.gamma must lie in [0, 1], got {self.gamma}")
        if not 0 <= self.lambda_ <= 1:
            raise ValueError(f"trainer.lambda_ must lie in [0, 1], got {self.lambda_}")
        self.returns = str(self.returns).lower()  # the specification's estimator names are upper case
        if self.train_mode not in ("nstep", "onestep"):
            raise ValueError(f"trainer.train_mode must be 'nstep' or 'onestep', got {self.train_mode!r}")
        if self.train_mode == "onestep" and self.nsteps != 1:
            raise ValueError(
                f"train_mode 'onestep' learns after every step: set nsteps=1 (got {self.nsteps})"
            )
        unsupported = {
            "model_dir": (None, "checkpoints go to <run_dir>/checkpoints; leave it None"),
            "update_target_freq": (0, "on-policy training has no target network; leave it 0"),
            "render_freq": (0, "record a video instead (advantage eval RUN --video out.gif); leave it 0"),
        }
        for name, (supported, hint) in unsupported.items():
            if getattr(self, name) != supported:
                raise ValueError(f"trainer.{name}={getattr(self, name)!r} is not supported: {hint}")
        if self.returns != "auto" and self.returns not in RETURN_ESTIMATORS:
            raise ValueError(f"trainer.returns must be auto or one of {RETURN_ESTIMATORS}, got {self.returns!r}")


def check_algo(algo: str) -> None:
    """Raise ValueError for an unknown algorithm name, with the closest known one."""
    algorithm_spec(algo)


@dataclass
class RunConfig:
    """Everything that defines a run; saved as ``config.toml`` and inside checkpoints."""

    algo: str = "ppo"
    """The algorithm (``--algo``): a name of the registry, ``advantage.algorithms.ALGORITHMS``."""
    env: str = "CartPole-v1"
    """A Gymnasium id; ``module:EnvId`` imports ``module`` first (where it registers ``EnvId``)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the env's constructor (``gymnasium.make(env, **env_kwargs)``)."""
    num_envs: int = 8
    """Environments stepped in parallel (all workers together); a rollout is nsteps × num_envs steps."""
    env_backend: str = "auto"
    """How the envs are vectorised: auto (numpy-vectorised where the env has it, else sync), vector,
    sync, async (subprocesses) or envpool."""
    distributed: str = "local"
    """Where the envs run: local (this process) or ray (Ray actor workers; a3c always runs there)."""
    num_workers: int = 2
    """Ray rollout workers with distributed = ray; each runs its share of the num_envs envs."""
    ray_address: str | None = None
    """Ray cluster to join (e.g. auto); None starts a local Ray instance for the run."""
    worker_resources: dict[str, float] = field(default_factory=dict)
    """Custom Ray resources each worker actor requests besides its CPU, e.g. ``{actor = 1}`` to
    place the workers on the nodes started with ``ray start --resources '{"actor": 8}'``."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The network: the ``[model]`` table (``model.KEY``)."""
    algorithm: AlgoConfig = field(default_factory=lambda: ALGORITHMS["ppo"].config())
    """The update rule's settings, the ``[algorithm]`` table: the config class of ``algo``'s spec."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """The training loop: the ``[trainer]`` table (``trainer.KEY``)."""

    def __post_init__(self) -> None:
        spec = algorithm_spec(self.algo)
        if not isinstance(self.env_kwargs, dict) or not all(isinstance(k, str) for k in self.env_kwargs):
            raise ValueError(f"env_kwargs must be a table of name = value pairs, got {self.env_kwargs!r}")
        if not isinstance(self.algorithm, spec.config):
            raise TypeError(f"algorithm config for {self.algo} must be {spec.config.__name__}")
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs}")
        if self.env_backend not in BACKENDS:
            raise ValueError(f"env_backend must be one of {BACKENDS}, got {self.env_backend!r}")
        if self.distributed not in DISTRIBUTED:
            raise ValueError(f"distributed must be one of {DISTRIBUTED}, got {self.distributed!r}")
        refusal = spec.refusal(self.model.policy, self.distributed, ALGORITHMS)
        if refusal:
            raise ValueError(refusal)
        if spec.sends_gradients(self.distributed) and self.algorithm.entropy_final is not None:
            raise ValueError(f"entropy_final (an entropy schedule) is not supported by {self.algo}, whose workers "
                             "weight the entropy themselves; drop algorithm.entropy_final or use a2c")
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {self.num_workers}")
        if self.distributed == "ray" and self.num_envs < self.num_workers:
            raise ValueError(f"num_envs ({self.num_envs}) must be >= num_workers ({self.num_workers}): each worker runs at least one env")
        bad = {k: v for k, v in self.worker_resources.items()
               if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0}
        if bad:
            raise ValueError(f"worker_resources must map resource names to amounts > 0, e.g. {{actor = 1}}; got {bad}")
        if self.worker_resources and self.distributed != "ray":
            raise ValueError("worker_resources is set but distributed is 'local'; add --backend ray")
        if self.ray_address is not None and self.distributed != "ray":
            raise ValueError("ray_address is set but distributed is 'local'; add --backend ray")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested data (tuples as lists, None kept)."""
        return _plain(dataclasses.asdict(self))

    @staticmethod
    def section_class(name: str, algo: str) -> type:
        """The config class of section ``name`` (model, algorithm or trainer) in an ``algo`` run."""
        return {"model": ModelConfig, "trainer": TrainerConfig}.get(name) or algorithm_spec(algo).config

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        data = dict(data)
        algo = data.get("algo", "ppo")
        for name in ("model", "algorithm", "trainer"):
            data[name] = _build(cls.section_class(name, algo), data.get(name, {}), name)
        _check_keys(data, {f.name for f in dataclasses.fields(cls)}, "")
        hints = typing.get_type_hints(cls)
        for key in ("algo", "env", "env_kwargs", "num_envs", "env_backend", "distributed", "num_workers", "ray_address", "worker_resources"):
            if key in data:
                data[key] = _coerce(data[key], hints[key], key)
        return cls(**data)

    def to_toml(self) -> str:
        """The config as TOML text (None written as "none"), as ``config.toml`` holds it."""
        return tomli_w.dumps(_none_to_str(self.to_dict()))

    def save_toml(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml())

    @classmethod
    def load_toml(cls, path: str | Path) -> RunConfig:
        data = read_toml(path)
        try:
            return cls.from_dict(_str_to_none(data))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"config file {path}: {exc}") from exc

    def with_overrides(self, assignments: list[str]) -> RunConfig:
        """Apply ``key=value`` strings (``trainer.nsteps=64``, or a unique bare ``nsteps=64``),
        each value read as a TOML literal (see :func:`apply_overrides` for typed values)."""
        typed = {}
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"--set expects key=value, got {assignment!r}")
            typed[key] = _parse_value(raw.strip())
        return RunConfig.from_dict(apply_overrides(self.to_dict(), typed))


def config_keys(algo: str) -> dict[str, Any]:
    """Every key a run config of ``algo`` has, nested as in its ``to_dict`` (values None): what
    full and bare override keys resolve against."""
    sections = ("model", "algorithm", "trainer")
    return {
        f.name: {g.name: None for g in dataclasses.fields(RunConfig.section_class(f.name, algo)) if g.init}
        if f.name in sections else None
        for f in dataclasses.fields(RunConfig)
    }


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a run config as nested data, possibly partial) with ``overrides`` set over it, in
    order: ``{"trainer.nsteps": 64, "lr": 3e-4}`` (a bare key where one section alone has it).
    Values are typed (checked when the config is built); changing ``algo`` drops the
    ``[algorithm]`` settings of the previous one."""
    data = {k: dict(v) if isinstance(v, dict) and k in ("model", "algorithm", "trainer") else v for k, v in data.items()}
    for key, value in overrides.items():
        path = _resolve_key(config_keys(str(data.get("algo", "ppo"))), key)
        if path == ("algo",) and value != data.get("algo"):
            data["algorithm"] = {}
        target = data
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _none_to_str(value: Any) -> Any:
    """TOML has no null: None is written as the string "none"."""
    if isinstance(value, dict):
        return {k: _none_to_str(v) for k, v in value.items()}
    return "none" if value is None else value


def _str_to_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _str_to_none(v) for k, v in value.items()}
    return None if value == "none" else value


def _check_keys(data: dict[str, Any], allowed: set[str], section: str) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = f" in [{section}]" if section else ""
            raise ValueError(f"unknown config key {key!r}{where}{hint}")


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """Check ``value`` against a field's type; ints are accepted for floats, lists for tuples."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, name)
            except ValueError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} expects a list such as [64, 64], got {value!r}")
        return tuple(_coerce(v, typing.get_args(annotation)[0], name) for v in value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} expects true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} expects an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} expects a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} expects a string, got {value!r}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{name} expects a table such as {{size = 5}}, got {value!r}")
        return value
    return value


def _build(cls: type, values: Any, section: str) -> Any:
    if dataclasses.is_dataclass(values):
        return values
    if not isinstance(values, dict):
        raise ValueError(f"[{section}] must be a table of key = value pairs")
    hints = typing.get_type_hints(cls)
    _check_keys(values, set(hints) & {f.name for f in dataclasses.fields(cls)}, section)
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    return cls(**kwargs)
