"""Ship a trained policy: ``advantage export RUN --format onnx -o policy.onnx`` or
``advantage.export(agent, "policy.onnx")``.

The file holds the deterministic policy :class:`~advantage.tools.export_graph.PolicyGraph`
describes (named inputs in, the env's action out). Before it replaces anything, the written file
is loaded back (onnxruntime for ONNX, ``torch.jit.load`` for TorchScript) and run on ``check``
observations sampled from the observation space (a recurrent policy: ``check`` steps of 10
sequences with random episode starts, its state carried); its actions must be the ones the
library's own policy (``model.act(..., deterministic=True)``, as :meth:`Agent.predict`) chooses.
Discrete actions must be equal, except where two actions' logits tie within
:data:`TIE_TOLERANCE`; continuous actions and states must agree within :data:`TOLERANCE`.
A Nature CNN trained in bfloat16 (``model.cnn_precision``) is exported, and checked, in float32:
its weights are float32, and the file runs where bfloat16 kernels do not.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from advantage.app.api import Agent, resolve_checkpoint
from advantage.data.observations import MASK_KEY
from advantage.models.encoders import set_cnn_precision
from advantage.models.heads import CategoricalHead, MultiDiscreteHead
from advantage.tools.export_graph import ExportError, PolicyGraph, TensorSpec

FORMATS = {"onnx": (".onnx",), "torchscript": (".pt", ".ts", ".torchscript")}
TOLERANCE = 1e-4
"""Largest difference allowed between torch's and the file's continuous actions and states."""
TIE_TOLERANCE = 1e-4
"""Discrete actions may differ only where torch's logits of the two actions are this close."""
SEQUENCES = 10
"""Sequences a recurrent policy is checked on (``check`` observations in all)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote and what its check found."""

    path: Path
    format: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    checked: int
    """Observations on which the file's actions were compared with torch's (0: not checked)."""
    ties: int
    """Discrete actions that differed where two logits tied within TIE_TOLERANCE."""
    max_difference: float
    """Largest difference of continuous actions and states between the file and torch."""

    def summary(self) -> str:
        signature = f"{', '.join(s.describe() for s in self.inputs)} -> {', '.join(s.describe() for s in self.outputs)}"
        check = (f"; {self.checked} observations give torch's actions (max difference {self.max_difference:.1e}"
                 f"{f', {self.ties} ties' if self.ties else ''})") if self.checked else ""
        return f"wrote {self.path} ({self.format}): {signature}{check}"


def export(
    agent_or_run: Agent | str | os.PathLike, path: str | os.PathLike, format: str | None = None, *,
    best: bool = False, action_mask: bool | None = None, check: int = 1000, env: Any = None,
) -> ExportResult:
    """Write the deterministic policy of an agent, a run directory or a checkpoint file to ``path``.

    ``format`` is onnx or torchscript (by default from the suffix: .onnx, or .pt / .ts);
    ``best`` takes a run's best validation checkpoint; ``action_mask`` as :class:`PolicyGraph`;
    ``check`` observations verify the written file (0 skips it); ``env`` as :meth:`Agent.load`.
    The file replaces ``path`` only once it has passed the check.

    Examples:
        >>> import tempfile, pathlib
        >>> from advantage import PPO, export
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "cartpole.pt"
        >>> print(export(PPO("CartPole-v1"), out, check=100).summary())  # doctest: +ELLIPSIS
        wrote .../cartpole.pt (torchscript): obs (batch, 4) float32 -> action (batch,) int64; 100 observations ...
    """
    fmt = _format(format, Path(path))
    if check < 0:
        raise ExportError(f"check must be >= 0 observations, got {check}")
    if isinstance(agent_or_run, Agent):
        if best or env is not None:
            raise ExportError("best and env apply to a run directory or checkpoint file; an agent exports its own "
                              "weights and env: drop them")
        agent = agent_or_run
    else:
        try:
            agent = Agent.load(resolve_checkpoint(agent_or_run, best=best), env)
        except FileNotFoundError as exc:
            raise ExportError(str(exc)) from exc
    model = copy.deepcopy(agent.model).to("cpu").eval()
    set_cnn_precision(model, "float32")  # the file computes in float32, whatever the run trained in
    graph = PolicyGraph(model, agent.observation_space, agent.action_space, action_mask).eval().requires_grad_(False)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        _write(graph, tmp, fmt)
        checked, ties, difference = _check(graph, model, agent.observation_space, tmp, fmt, check) if check else (0, 0, 0.0)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return ExportResult(target, fmt, graph.inputs, graph.outputs, checked, ties, difference)


def _format(format: str | None, path: Path) -> str:
    if format is None:
        found = [name for name, suffixes in FORMATS.items() if path.suffix.lower() in suffixes]
        if not found:
            raise ExportError(f"cannot tell the format from {path.name!r}: pass --format onnx or torchscript "
                              "(or name the file .onnx, .pt or .ts)")
        return found[0]
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose onnx or torchscript")
    return format


def _write(graph: PolicyGraph, path: str, fmt: str) -> None:
    try:
        _trace(graph, path, fmt)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 — what torch's exporters cannot express, said in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(f"torch cannot export this policy to {fmt}: {type(exc).__name__}: {first}") from exc


def _trace(graph: PolicyGraph, path: str, fmt: str) -> None:
    example = graph.example_inputs()
    names = [spec.name for spec in graph.inputs]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            torch.jit.trace(graph, example, check_trace=False).save(path)
            return
        _require_onnx()
        batch = torch.export.Dim("batch", min=1)
        dynamic = tuple({spec.shape.index("batch"): batch} for spec in graph.inputs)
        logger = logging.getLogger("torch.onnx")
        level = logger.level
        logger.setLevel(logging.ERROR)  # its "torchvision is not installed" notes
        try:
            program = torch.onnx.export(
                graph, example, input_names=names, output_names=[spec.name for spec in graph.outputs],
                dynamic_shapes=(dynamic,), dynamo=True, verbose=False,  # one entry: forward(*inputs)
            )
        finally:
            logger.setLevel(level)
        program.save(path)


def _require_onnx() -> None:
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError as exc:
            raise ExportError(f"ONNX export needs {module}: pip install 'advantage[export]'") from exc


def _sample_inputs(
    graph: PolicyGraph, space: spaces.Space, rng: np.random.Generator, n: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` observations of ``space`` (and masks that allow some action) as the graph's named
    inputs, and the same observations flattened as the model takes them."""
    space.seed(int(rng.integers(2**31)))
    samples = [space.sample() for _ in range(n)]
    if graph.layout is None:
        obs = np.stack(samples).astype(graph.inputs[0].dtype)
        inputs, flat = [obs], obs
    else:
        inputs = []
        for (_, path, _), spec in zip(graph.layout.parts(), graph.inputs):
            values = []
            for sample in samples:
                for key in path:
                    sample = sample[key]
                values.append(np.asarray(sample, dtype=spec.dtype))
            inputs.append(np.stack(values))
        flat = np.stack([graph.layout.flatten(sample, None) for sample in samples])
    if graph.with_mask:
        mask = rng.random((n, graph.head.mask_size)) < 0.5
        mask[np.arange(n), rng.integers(graph.head.mask_size, size=n)] = True  # some legal action
        if isinstance(graph.head, MultiDiscreteHead):  # and one per component
            offset = 0
            for size in graph.head.sizes:
                mask[np.arange(n), offset + rng.integers(size, size=n)] = True
                offset += size
        inputs.append(mask.astype(next(s.dtype for s in graph.inputs if s.name == MASK_KEY)))
    return inputs, flat


class _Runner:
    """Calls the written file with named numpy inputs."""

    def __init__(self, path: str, fmt: str, graph: PolicyGraph) -> None:
        self.names = [spec.name for spec in graph.inputs]
        if fmt == "onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            self.run = lambda arrays: session.run(None, dict(zip(self.names, arrays)))
        else:
            module = torch.jit.load(path)

            def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
                with torch.no_grad():
                    out = module(*[torch.from_numpy(np.ascontiguousarray(a)) for a in arrays])
                return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]

            self.run = run


def _check(
    graph: PolicyGraph, model: torch.nn.Module, space: spaces.Space, path: str, fmt: str, n: int
) -> tuple[int, int, float]:
    """Compare the written file's actions (and states) with torch's on ``n`` observations; raise
    ExportError on a disagreement. Returns ``(observations, ties, max difference)``."""
    rng = np.random.default_rng(0)
    runner = _Runner(path, fmt, graph)
    mask_at = [s.name for s in graph.inputs].index(MASK_KEY) if graph.with_mask else None
    if not graph.recurrent:
        inputs, flat = _sample_inputs(graph, space, rng, n)
        mask = None if mask_at is None else inputs[mask_at] != 0
        expected, logits, _ = _torch_act(model, flat, None, None, mask)
        (got,) = runner.run(inputs)
        return (n, *_compare(graph, expected, got, logits, mask))
    envs = SEQUENCES
    steps = -(-n // envs)
    state = model.initial_memory(envs).numpy()
    torch_state = model.initial_memory(envs)
    ties, difference = 0, 0.0
    for t in range(steps):
        inputs, flat = _sample_inputs(graph, space, rng, envs)
        start = np.ones(envs, bool) if t == 0 else rng.random(envs) < 0.1
        mask = None if mask_at is None else inputs[mask_at] != 0
        expected, logits, torch_state = _torch_act(model, flat, start, torch_state, mask)
        got, state = runner.run([*inputs, state, start])
        step_ties, step_diff = _compare(graph, expected, got, logits, mask)
        state_diff = float(np.abs(state - torch_state.numpy()).max())
        if state_diff > TOLERANCE:
            raise ExportError(f"the exported {fmt} state differs from torch's by {state_diff:.2e} at step {t}")
        ties, difference = ties + step_ties, max(difference, step_diff, state_diff)
    return steps * envs, ties, difference


@torch.no_grad()
def _torch_act(model, flat: np.ndarray, start: np.ndarray | None, memory, mask: np.ndarray | None):
    """The library's greedy actions (as the env takes them), the packed policy and the next memory."""
    n = flat.shape[0]
    memory = model.initial_memory(n) if memory is None else memory
    start_t = torch.ones(n, dtype=torch.bool) if start is None else torch.from_numpy(start)
    masked = {} if mask is None else {"action_mask": torch.from_numpy(mask)}
    action, _, packed, memory = model.act(torch.from_numpy(flat), start_t, memory, deterministic=True, **masked)
    return model.head.to_env(action), packed.numpy(), memory


def _compare(
    graph: PolicyGraph, expected: np.ndarray, got: np.ndarray, packed: np.ndarray, mask: np.ndarray | None
) -> tuple[int, float]:
    """``(ties, max difference)`` of the file's actions against torch's; ExportError where they
    disagree (a discrete action differs and is illegal or not tied with torch's by its logit)."""
    if expected.shape != got.shape:
        raise ExportError(f"the exported policy returns actions of shape {got.shape}, torch {expected.shape}")
    head = graph.head
    if not isinstance(head, (CategoricalHead, MultiDiscreteHead)):
        if np.issubdtype(expected.dtype, np.floating):
            difference = float(np.abs(expected - got).max(initial=0.0))
            if difference > TOLERANCE:
                raise ExportError(f"the exported actions differ from torch's by up to {difference:.2e}")
            return 0, difference
        if not np.array_equal(expected, got):  # MultiBinary: a logit at 0 is the only tie
            raise ExportError("the exported MultiBinary actions differ from torch's")
        return 0, 0.0
    sizes = [head.policy_dim] if isinstance(head, CategoricalHead) else head.sizes
    exp, out = expected.reshape(len(expected), -1) - np.asarray(head.start).reshape(1, -1), got.reshape(len(got), -1)
    out = out - np.asarray(head.start).reshape(1, -1)
    ties, offset = 0, 0
    for k, size in enumerate(sizes):
        logits = packed[:, offset:offset + size]
        if mask is not None:
            logits = np.where(mask[:, offset:offset + size], logits, -np.inf)
        rows = np.flatnonzero(exp[:, k] != out[:, k])
        if rows.size:
            gap = np.abs(logits[rows, exp[rows, k]] - logits[rows, np.clip(out[rows, k], 0, size - 1)])
            if (gap > TIE_TOLERANCE).any() or (out[rows, k] < 0).any() or (out[rows, k] >= size).any():
                raise ExportError(f"the exported policy chooses other actions than torch on {rows.size} observations")
            ties += rows.size
        offset += size
    return ties, 0.0
