"""Time five ways of running a masked LSTM over (T, B) sequences, forward + backward, on CPU.

    .venv/bin/python benchmarks/lstm_core_timing.py

- ``separators`` (``model.lstm_pass = "separators"``, the default since session 41): every
  sequence in its own column, a gate-closing separator step before each episode start, ONE call;
- ``segments`` (``model.lstm_pass = "segments"``, the default from issue 32 to session 40): cut every sequence
  into its episode pieces once, lay them side by side padded, ONE ``nn.LSTM`` call, gather back;
- ``split`` (``model.lstm_pass = "spans"``): cut the time axis where any sequence
  starts an episode, one ``nn.LSTM`` call per span, entry state masked;
- ``loop``: one ``nn.LSTM`` call per time step with the state masked each step (SB3-contrib's way);
- ``packed``: cut every sequence into its episodes and run them all in one call as a packed batch
  (``pack_padded_sequence``), each episode from its own initial state.

``p`` is the probability that a step starts an episode (CartPole episodes last 10-500 steps).
All five give the same outputs (checked); the script prints CPU milliseconds (process time: a loaded
shared machine does not inflate it) per forward+backward.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np
import torch
from gymnasium import spaces
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from advantage.models import ActorCriticLSTM, ModelConfig


def _features(model: ActorCriticLSTM, obs):
    flat, lead = model._inputs(obs)
    return model.encoder(flat).reshape(*lead, -1)


def split_core(model: ActorCriticLSTM, obs, starts, state):
    return model._run(obs, starts, state)[0]  # asking for the final state: the spans pass (one shared LSTM)


def training_core(model: ActorCriticLSTM, obs, starts, state, lstm_pass: str):
    model.config = dataclasses.replace(model.config, lstm_pass=lstm_pass)
    return model._run(obs, starts, state, final_state=False)[0]  # the training pass


def loop_core(model: ActorCriticLSTM, obs, starts, state):
    x = _features(model, obs)
    h, c = state[0:1], state[1:2]
    outputs = []
    for t in range(obs.shape[0]):
        keep = (~starts[t]).float().view(1, -1, 1)
        out, (h, c) = model.lstm(x[t : t + 1], (h * keep, c * keep))
        outputs.append(out[0])
    return torch.stack(outputs)


def packed_core(model: ActorCriticLSTM, obs, starts, state):
    T, B = starts.shape
    x = _features(model, obs)
    state = state * (~starts[0]).float().view(1, B, 1)
    boundary = starts.t().clone()
    boundary[:, 0] = True
    flat = boundary.reshape(-1)
    segment = flat.long().cumsum(0) - 1
    first = flat.nonzero().squeeze(1)
    position = torch.arange(B * T) - first[segment]
    lengths = torch.bincount(segment, minlength=len(first))
    padded = x.new_zeros(len(first), T, x.shape[-1])
    padded[segment, position] = x.transpose(0, 1).reshape(B * T, -1)
    h0 = state.new_zeros(2, len(first), model.cell_size)
    h0[:, segment.view(B, T)[:, 0]] = state
    packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    out, _ = model.lstm(packed, (h0[0:1].contiguous(), h0[1:2].contiguous()))
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    return out[segment, position].view(B, T, -1).transpose(0, 1)


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ActorCriticLSTM(
        spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(2), ModelConfig(policy="lstm", shared=True)
    )
    variants = {name: functools.partial(fn, model)
                for name, fn in (("split", split_core), ("loop", loop_core), ("packed", packed_core))}
    variants = {name: functools.partial(training_core, model, lstm_pass=name) for name in ("separators", "segments")} | variants
    print("| T | B | p(start) | " + " | ".join(f"{name} ms" for name in variants) + " |")
    print("|---|---|---|" + "---|" * len(variants))
    cases = [(32, 8, 0.05), (32, 8, 0.01), (128, 8, 0.05), (128, 8, 0.002), (32, 64, 0.01), (8, 64, 0.05),
             (32, 16, 0.05), (32, 16, 0.02), (32, 16, 0.005)]  # the last three: the CartPoleNoVel rows' shape
    for T, B, p in cases:
        obs, starts, state = torch.randn(T, B, 2), torch.rand(T, B) < p, torch.zeros(2, B, 64)
        reference = split_core(model, obs, starts, state)
        times = []
        for fn in variants.values():
            assert torch.allclose(fn(obs, starts, state), reference, atol=1e-5)
            n = 30
            start = time.process_time()
            for _ in range(n):
                fn(obs, starts, state).sum().backward()
            times.append((time.process_time() - start) / n * 1e3)
        print(f"| {T} | {B} | {p} | " + " | ".join(f"{t:.2f}" for t in times) + " |")


if __name__ == "__main__":
    main()
