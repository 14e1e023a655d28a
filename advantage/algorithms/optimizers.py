"""Adam and RMSprop steps without ``torch.optim``'s start-up cost.

Creating any ``torch.optim`` optimiser imports ``torch._dynamo`` (its methods are wrapped to keep
``torch.compile`` out of them): about 1 s at every launch on these machines, as long as importing
torch itself, paid before the first update. The two optimisers here take the same steps with the
same kernels and never import it:

    Adam      m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,
              θ ← θ − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
              one ``torch._fused_adam_`` call, as ``torch.optim.Adam(fused=True)`` makes it
    RMSprop   v ← α v + (1 − α) g²,   θ ← θ − lr · g / (√v + ε)
              the foreach operations of ``torch.optim.RMSprop(foreach=True)``, in its order
    RMSprop as TensorFlow's (``rmsprop_tf``: the A2C paper's OpenAI baselines, SB3's RMSpropTFLike)
              v₀ = 1,   v ← α v + (1 − α) g²,   θ ← θ − lr · g / √(v + ε)

The first two equal ``torch.optim``'s bit for bit, and their ``state_dict`` is ``torch.optim``'s
format, so checkpoints load into either (``tests/algorithms/test_optimizers.py``). The fused
kernel is private torch API (``pyproject.toml`` allows torch >= 2.2, whose CPU lacks it), so it is
probed once; without it :func:`make_optimizer` returns ``torch.optim.Adam(foreach=True)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

import torch
from torch import nn


def _probe_fused_adam() -> None:
    p, g, m, v = (torch.zeros(2) for _ in range(4))
    step = torch.zeros(())
    torch._fused_adam_([p], [g], [m], [v], [], [step], amsgrad=False, lr=1e-3, beta1=0.9, beta2=0.999,
                       weight_decay=0.0, eps=1e-8, maximize=False, grad_scale=None, found_inf=None)


FUSED_ADAM_PROBE = _probe_fused_adam
"""Runs ``torch._fused_adam_`` on a tiny input; raises where this torch lacks it or changed it."""


@cache
def fused_adam_works() -> bool:
    """Whether ``torch._fused_adam_`` exists on the CPU and takes the arguments used here (checked once)."""
    try:
        FUSED_ADAM_PROBE()
    except Exception:  # missing op, changed signature: torch.optim's foreach Adam runs instead
        return False
    return True


OPTIMIZERS = ("adam", "rmsprop", "rmsprop_tf")
"""The optimisers an algorithm config names (``AlgoConfig.optimizer``)."""


def make_optimizer(
    kind: str, params: Iterable[nn.Parameter], lr: float, eps: float, alpha: float = 0.99
) -> Adam | RMSprop | torch.optim.Optimizer:
    """The optimiser an :class:`~advantage.algorithms.base.Algorithm` steps with: ``adam``, ``rmsprop``
    or ``rmsprop_tf``."""
    params = list(params)
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, got {kind!r}")
    if kind == "rmsprop_tf":  # no torch.optim counterpart
        return RMSpropTF(params, lr=lr, alpha=alpha, eps=eps)
    # one device and dtype, as the models here have; anything else gets torch.optim's grouping
    uniform = len({(p.device, p.dtype) for p in params}) == 1
    if kind == "rmsprop":
        return RMSprop(params, lr=lr, alpha=alpha, eps=eps) if uniform else torch.optim.RMSprop(
            params, lr=lr, alpha=alpha, eps=eps, foreach=True)
    if uniform and params[0].device.type in ("cpu", "cuda") and fused_adam_works():
        return Adam(params, lr=lr, eps=eps)
    return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


class _Optimizer:
    """One parameter group, ``param_groups`` / ``state`` / ``zero_grad`` / ``step`` / ``state_dict`` as
    in ``torch.optim``. Subclasses set :attr:`fixed` and :attr:`state_keys` and implement the update."""

    fixed: dict[str, Any] = {}
    """Group settings this class implements only at these values (a loaded state must match)."""
    state_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable[nn.Parameter], **hyper: Any) -> None:
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        self.defaults = {**hyper, **self.fixed}
        self.param_groups: list[dict[str, Any]] = [{**self.defaults, "params": params}]
        self.state: dict[nn.Parameter, dict[str, torch.Tensor]] = {}
        self._columns: dict[str, list[torch.Tensor]] | None = None
        """Each state key's tensors over all parameters, kept once every parameter has a state
        (the usual case: then a step gathers only the gradients)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's ``.grad`` (``set_to_none=False``: fill it with zeros instead)."""
        for p in self.param_groups[0]["params"]:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.detach_().zero_()

    def _tensors(self) -> tuple[list[nn.Parameter], list[torch.Tensor], dict[str, list[torch.Tensor]]]:
        """The parameters that have a gradient, their gradients, and their states' tensors by key
        (states are created on first use)."""
        params = self.param_groups[0]["params"]
        grads = [p.grad for p in params]
        if self._columns is not None and all(g is not None for g in grads):
            return params, grads, self._columns
        with_grad = [p for p, g in zip(params, grads) if g is not None]
        for p in with_grad:
            if p not in self.state:
                self.state[p] = self._new_state(p)
        columns = {k: [self.state[p][k] for p in with_grad] for k in self.state_keys}
        if len(with_grad) == len(params):
            self._columns = columns
        return with_grad, [p.grad for p in with_grad], columns

    def _new_state(self, p: nn.Parameter) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def step(self) -> None:
        """One step on the parameters that have a gradient (their ``step`` counters advance by 1)."""
        params, grads, columns = self._tensors()
        # torch's fused CPU Adam (torch.optim's too, torch 2.13) reads a strided gradient as if it
        # were contiguous: a .grad set by hand as a view (not by autograd) is copied first
        grads = [g if g.is_contiguous() else g.contiguous() for g in grads]
        if params:
            torch._foreach_add_(columns["step"], 1)
            self._update(self.param_groups[0], params, grads, columns)

    def _update(self, group: dict[str, Any], params: list[nn.Parameter], grads: list[torch.Tensor],
                columns: dict[str, list[torch.Tensor]]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: tensors}, "param_groups": [settings with "params" as indices]}``, as torch.optim."""
        params = self.param_groups[0]["params"]
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {
            "state": {i: dict(self.state[p]) for i, p in enumerate(params) if p in self.state},
            "param_groups": [{**group, "params": list(range(len(params)))}],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (this class's or the matching torch.optim optimiser's)."""
        params = self.param_groups[0]["params"]
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(params):
            sizes = [len(g["params"]) for g in groups]
            raise ValueError(
                f"the saved optimiser state has parameter groups of sizes {sizes}, but this "
                f"{type(self).__name__} has one group of {len(params)} parameters: it belongs to another model"
            )
        saved = groups[0]
        for key, value in self.fixed.items():
            if key in saved and saved[key] != value and key not in ("foreach", "fused"):
                raise ValueError(
                    f"the saved optimiser state has {key}={saved[key]!r}; {type(self).__name__} "
                    f"takes steps with {key}={value!r} only"
                )
        states: dict[nn.Parameter, dict[str, torch.Tensor]] = {}
        for index, p in zip(saved["params"], params):
            if index in state_dict["state"]:
                states[p] = self._loaded_state(p, state_dict["state"][index])
        self.state = states
        self._columns = None
        self.param_groups[0].update({k: v for k, v in saved.items() if k != "params"}, **self.fixed)

    def _loaded_state(self, p: nn.Parameter, saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [k for k in self.state_keys if k not in saved]
        if missing:
            raise ValueError(f"the saved optimiser state lacks {missing} for a parameter of shape {tuple(p.shape)}")
        fresh = self._new_state(p)
        return {k: saved[k].to(dtype=fresh[k].dtype, device=fresh[k].device).clone() for k in self.state_keys}


class Adam(_Optimizer):
    """Adam taking ``torch.optim.Adam(fused=True)``'s step: ``torch._fused_adam_`` on the same state."""

    fixed = {"weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
             "differentiable": False, "fused": True, "decoupled_weight_decay": False}
    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[nn.Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps)

    def _new_state(self, p: nn.Parameter) -> dict[str, torch.Tensor]:
        return {"step": torch.zeros((), dtype=torch.float32, device=p.device),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}

    def _update(self, group: dict[str, Any], params: list[nn.Parameter], grads: list[torch.Tensor],
                columns: dict[str, list[torch.Tensor]]) -> None:
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params, grads, columns["exp_avg"], columns["exp_avg_sq"], [], columns["step"],
            amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"],
            maximize=False, grad_scale=None, found_inf=None,
        )


class RMSprop(_Optimizer):
    """RMSprop taking ``torch.optim.RMSprop(foreach=True)``'s step (no momentum, not centred)."""

    fixed = {"momentum": 0, "centered": False, "weight_decay": 0, "capturable": False, "foreach": True,
             "maximize": False, "differentiable": False}
    state_keys = ("step", "square_avg")

    def __init__(self, params: Iterable[nn.Parameter], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(params, lr=lr, alpha=alpha, eps=eps)

    def _new_state(self, p: nn.Parameter) -> dict[str, torch.Tensor]:
        step_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        return {"step": torch.zeros((), dtype=step_dtype),  # on the CPU, as torch.optim keeps it
                "square_avg": torch.zeros_like(p, memory_format=torch.preserve_format)}

    def _update(self, group: dict[str, Any], params: list[nn.Parameter], grads: list[torch.Tensor],
                columns: dict[str, list[torch.Tensor]]) -> None:
        alpha = group["alpha"]
        square_avgs = columns["square_avg"]
        torch._foreach_mul_(square_avgs, alpha)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
        torch._foreach_addcdiv_(params, grads, self._denominators(square_avgs, group["eps"]), value=-group["lr"])

    @staticmethod
    def _denominators(square_avgs: list[torch.Tensor], eps: float) -> list[torch.Tensor]:
        """√v + ε."""
        avg = torch._foreach_sqrt(square_avgs)
        torch._foreach_add_(avg, eps)
        return avg


class RMSpropTF(RMSprop):
    """RMSprop as TensorFlow computes it, the optimiser of the A2C paper's implementation (OpenAI
    baselines) and of Stable-Baselines3's ``RMSpropTFLike``:

        v₀ = 1,   v ← α v + (1 − α) g²,   θ ← θ − lr · g / √(v + ε)

    With ``torch.optim.RMSprop``'s v₀ = 0 the first steps are lr · g / √((1 − α) g²) ≈ 10 · lr
    (α = 0.99) whatever the gradient's size, until v has averaged ~100 gradients; from v₀ = 1 they
    start at lr · g and grow as v settles. The state (``step``, ``square_avg``) has torch's keys.
    """

    fixed = {**RMSprop.fixed, "tf_like": True}

    def _new_state(self, p: nn.Parameter) -> dict[str, torch.Tensor]:
        state = super()._new_state(p)
        state["square_avg"].fill_(1.0)
        return state

    @staticmethod
    def _denominators(square_avgs: list[torch.Tensor], eps: float) -> list[torch.Tensor]:
        """√(v + ε)."""
        root = torch._foreach_add(square_avgs, eps)
        torch._foreach_sqrt_(root)
        return root
