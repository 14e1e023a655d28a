"""The masked LSTM as one compiled loop over time: ``model.lstm_pass = "compiled"``.

At the sizes reinforcement learning runs (a 64-cell LSTM over a few dozen steps of 8-16 envs)
oneDNN's fused LSTM spends most of its time per step, not in arithmetic. This pass runs the
recurrence of :mod:`advantage.models.lstm` (the state zeroed where an episode starts)

    (h, c)_{t-1} ← keep_t · (h, c)_{t-1};   y_t, (h, c)_t = LSTM(x_t, (h, c)_{t-1}),   keep = 1 − episode_start

in ``lstm_kernel.c``: the per-step matrix product ``[x_t, h] [W_ih, W_hh]ᵀ`` with its
accumulators in registers and the gates vectorised, forward and backward, for float32 on the CPU.
What is one large matrix product stays in torch: the weight gradients
``∂[W_ih, W_hh] = Σ_t ∂a_tᵀ [x_t, h'_t]`` of all steps, after the loop. The resets are part of the
loop, so there are no separator steps or padded pieces, and the final state comes out as well.

The C file is compiled once per machine with the C compiler (``$CC``, else ``cc``) at
``-O3 -march=native`` and cached (``$ADVANTAGE_CACHE_DIR``, else ``~/.cache/advantage``), keyed by
the source, the compiler, the flags and the CPU. Where no compiler builds it, ``lstm_pass=auto``
takes ``separators`` and says so in the run's last line; ``compiled`` asked for by name is refused
with the reason. Its outputs and gradients equal the reference pass's to float rounding
(``tests/models/test_compiled_lstm.py``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

SOURCE = Path(__file__).with_name("lstm_kernel.c")
FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp-simd", "-fPIC")
"""Compile flags: ``-ffast-math`` lets the gates' ``expf`` vectorise (glibc's libmvec);
``-fopenmp-simd`` reads the loops' ``omp simd`` marks without OpenMP's runtime. The link step
runs without ``-ffast-math``: linked with it, GCC adds ``crtfastmath.o``, whose loader sets the
CPU to flush denormals to zero for the whole process (torch's arithmetic included)."""


class KernelUnavailable(RuntimeError):
    """The compiled LSTM could not be built or loaded here; the message says why."""


def cache_dir() -> Path:
    """Where built kernels are kept: ``$ADVANTAGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/advantage``,
    else ``~/.cache/advantage``."""
    if os.environ.get("ADVANTAGE_CACHE_DIR"):
        return Path(os.environ["ADVANTAGE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "advantage"


def _cpu_flags() -> str:
    """The CPU's feature flags (what ``-march=native`` compiles for), or the machine's name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build(compiler: str, target: Path) -> None:
    """Compile :data:`SOURCE` into ``target`` (written whole, then moved into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        built, obj = Path(tmp) / target.name, Path(tmp) / "lstm_kernel.o"
        for command in ([compiler, *FLAGS, "-c", "-o", str(obj), str(SOURCE)],
                        [compiler, "-shared", "-o", str(built), str(obj), "-lm"]):
            result = subprocess.run(command, capture_output=True, text=True, timeout=300)
            if result.returncode != 0:
                lines = (result.stderr or result.stdout).strip().splitlines()
                raise KernelUnavailable(f"{compiler} could not build {SOURCE.name}: {lines[-1] if lines else result.returncode}")
        os.replace(built, target)


def load_kernel() -> ctypes.CDLL:
    """The built kernel (built on first use); raises :class:`KernelUnavailable` with the reason.
    Either outcome is kept for the process (:func:`_loaded`): a machine without a compiler pays
    for the attempt once, not at every sequence pass."""
    lib, reason = _loaded()
    if lib is None:
        raise KernelUnavailable(reason)
    return lib


@functools.cache
def _loaded() -> tuple[ctypes.CDLL | None, str | None]:
    try:
        return _build_and_load(), None
    except KernelUnavailable as error:
        return None, str(error)


def _build_and_load() -> ctypes.CDLL:
    compiler = os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        raise KernelUnavailable(f"no C compiler found (looked for {compiler!r}; set $CC to one)")
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise KernelUnavailable(f"{compiler} --version failed: {error}") from None
    key = hashlib.sha256("\0".join([SOURCE.read_text(), compiler, version, *FLAGS, "-shared", _cpu_flags()]).encode()).hexdigest()
    target = cache_dir() / f"lstm_kernel-{key[:16]}.so"
    if not target.exists():
        try:
            _build(compiler, target)
        except (OSError, subprocess.SubprocessError) as error:
            raise KernelUnavailable(f"building {SOURCE.name} failed: {error}") from None
    try:
        lib = ctypes.CDLL(str(target))
    except OSError as error:
        raise KernelUnavailable(f"loading {target} failed: {error}") from None
    pointer, integer = ctypes.c_void_p, ctypes.c_int
    lib.lstm_forward.argtypes = [integer] * 4 + [pointer] * 13
    lib.lstm_forward.restype = None
    lib.lstm_backward.argtypes = [integer] * 3 + [pointer] * 10
    lib.lstm_backward.restype = None
    return lib


def kernel_error() -> str | None:
    """Why the compiled LSTM cannot run here, or None when it can."""
    return _loaded()[1]


def runs_on(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the compiled pass runs for parameters on ``device`` in ``dtype``: float32 on the CPU."""
    return device.type == "cpu" and dtype == torch.float32


def _ptr(tensor: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(tensor.data_ptr())


@dataclass
class Tape:
    """What :func:`lstm_backward` needs from :func:`lstm_forward`: the mask, the entry cell state,
    the recurrent and input weights, the activated gates, the cell states and each step's
    ``[x_t, h'_t]``."""

    keep: torch.Tensor
    c0: torch.Tensor
    w_ih: torch.Tensor
    w_hh: torch.Tensor
    gates: torch.Tensor
    cell: torch.Tensor
    xh: torch.Tensor


def lstm_forward(
    x: torch.Tensor, keep: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, weights: list[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Tape]:
    """The masked recurrence over ``x (T, B, F)`` from ``(h0, c0) (B, C)`` with ``keep (T, B)`` and
    the layer's ``weights`` (``W_ih, W_hh, b_ih, b_hh``), outside autograd: the outputs
    ``(T, B, C)``, the final ``h, c`` and the :class:`Tape` for :func:`lstm_backward`."""
    T, B, F = x.shape
    C = weights[1].shape[1]
    # every tensor the kernel reads or writes is held by a name while it runs
    x, keep = x.detach().contiguous(), keep.detach().contiguous()
    weights = [w.detach().contiguous() for w in weights]
    h = h0.detach().clone(memory_format=torch.contiguous_format)
    c = c0.detach().clone(memory_format=torch.contiguous_format)
    y, cell, gates = x.new_empty(T, B, C), x.new_empty(T, B, C), x.new_empty(T, B, 4 * C)
    xh = x.new_empty(T * B, F + C)
    work = x.new_empty((F + C + 1) * 4 * C)
    load_kernel().lstm_forward(T, B, F, C, _ptr(x), _ptr(keep), *map(_ptr, weights), _ptr(h), _ptr(c),
                               _ptr(y), _ptr(gates), _ptr(cell), _ptr(xh), _ptr(work))
    return y, h, c, Tape(keep, c0.detach().contiguous(), weights[0], weights[1], gates, cell, xh)


def lstm_backward(
    tape: Tape, dy: torch.Tensor | None, dh: torch.Tensor | None = None, dc: torch.Tensor | None = None,
    input_grad: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """From the gradients of the outputs ``dy (T, B, C)`` and of the final state (None: zero), the
    gradients of the inputs (None unless ``input_grad``), of the entry ``h, c``, of ``W_ih, W_hh``
    and of ``b_ih, b_hh``: ``∂[W_ih, W_hh] = Σ_t ∂a_tᵀ [x_t, h'_t]``, ``∂b_ih = ∂b_hh = Σ ∂a``, as
    two tensors (a caller that sets ``.grad`` from them and clips in place must not scale one
    shared tensor twice)."""
    T, B, C = tape.cell.shape
    F = tape.xh.shape[1] - C
    dy = torch.zeros_like(tape.cell) if dy is None else dy.contiguous()
    dh = torch.zeros_like(tape.c0) if dh is None else dh.clone(memory_format=torch.contiguous_format)
    dc = torch.zeros_like(tape.c0) if dc is None else dc.clone(memory_format=torch.contiguous_format)
    d_gates, scratch = tape.cell.new_empty(T * B, 4 * C), tape.cell.new_empty(B, C)
    load_kernel().lstm_backward(T, B, C, _ptr(dy), _ptr(tape.gates), _ptr(tape.cell), _ptr(tape.c0), _ptr(tape.keep),
                                _ptr(tape.w_hh), _ptr(dh), _ptr(dc), _ptr(d_gates), _ptr(scratch))
    dx = (d_gates @ tape.w_ih).view(T, B, F) if input_grad else None
    d_w = d_gates.t() @ tape.xh  # (4C, F + C): ∂W_ih beside ∂W_hh
    d_b = d_gates.sum(0)
    return dx, dh, dc, d_w[:, :F], d_w[:, F:], d_b, d_b.clone()


class _MaskedLSTM(torch.autograd.Function):
    """``(y, h_T, c_T)`` of the masked recurrence over ``x (T, B, F)`` from ``(h0, c0) (B, C)``,
    ``keep (T, B)``; gradients to ``x``, the entry state and the four weights."""

    @staticmethod
    def forward(ctx, x, keep, h0, c0, w_ih, w_hh, b_ih, b_hh):
        y, h, c, ctx.tape = lstm_forward(x, keep, h0, c0, [w_ih, w_hh, b_ih, b_hh])
        ctx.save_for_backward(w_ih, w_hh, b_ih, b_hh)  # autograd's check that no step changed them since
        return y, h, c

    @staticmethod
    def backward(ctx, dy, dh_T, dc_T):
        _ = ctx.saved_tensors  # raises if the weights were modified in place after the forward
        dx, dh, dc, *weights = lstm_backward(ctx.tape, dy, dh_T, dc_T, ctx.needs_input_grad[0])
        return dx, None, dh, dc, *weights


def compiled_lstm(
    lstm: nn.LSTM, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, keep: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``lstm`` (one layer) over ``x (T, B, F)`` from ``(h, c) (B, C)``, the state multiplied by
    ``keep (T, B)`` (0 where an episode starts) before each step: the outputs ``(T, B, C)`` and
    the final ``h, c (B, C)``."""
    return _MaskedLSTM.apply(x, keep, h, c, *lstm._flat_weights)  # W_ih, W_hh, b_ih, b_hh, as lstm.py reads them
