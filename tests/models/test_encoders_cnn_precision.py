"""``model.cnn_precision``: the Nature CNN in mixed precision (bfloat16 products; float32 weights,
gradients and features), ``auto`` by the hardware, refused where there is no Nature CNN, and
end to end (train, resume, evaluate with video, export in float32, Ray's rollout workers)."""

from __future__ import annotations

import matrix_envs  # noqa: F401 — registers MatrixImage-v0
import numpy as np
import pytest
import torch
from end_to_end_checks import resume_evaluate_export
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

from advantage.cli import main
from advantage.models import ActorCritic, ModelConfig, encoders
from advantage.models.encoders import NatureCNN, native_bfloat16, set_cnn_precision

SHAPE = (4, 36, 40)
SPACE = spaces.Box(0, 255, SHAPE, np.uint8)


def _models(precision: str, channels_last: bool = False) -> tuple[ActorCritic, ActorCritic]:
    """A float32 model and one in ``precision`` with the same weights."""
    torch.manual_seed(0)
    plain = ActorCritic(SPACE, spaces.Discrete(4), ModelConfig(cnn_channels_last=channels_last))
    other = ActorCritic(SPACE, spaces.Discrete(4), ModelConfig(cnn_channels_last=channels_last, cnn_precision=precision))
    other.load_state_dict(plain.state_dict())
    return plain, other


def _obs(n: int = 6) -> torch.Tensor:
    return torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def _emulated_bfloat16(cnn: NatureCNN, obs: torch.Tensor) -> torch.Tensor:
    """The CNN by hand: every layer's input, weight and bias rounded to bfloat16, the sum in float32,
    the output rounded to bfloat16 (what mixed precision computes, up to the order of the sums)."""
    def bf(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.bfloat16).float()

    x = bf(bf(obs.float()) / 255.0)
    for layer in cnn.conv:
        if isinstance(layer, nn.Conv2d):
            x = bf(F.conv2d(bf(x), bf(layer.weight), bf(layer.bias), layer.stride))
        elif isinstance(layer, nn.ReLU):
            x = torch.relu(x)
    x = x.flatten(1)
    linear = cnn.fc[0]
    return torch.relu(bf(F.linear(bf(x), bf(linear.weight), bf(linear.bias))))


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_bfloat16_computes_the_cnn_in_bfloat16_and_hands_on_float32(channels_last):
    plain, mixed = _models("bfloat16", channels_last)
    seen: list[torch.dtype] = []
    for layer in mixed.actor_encoder.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    obs = _obs()
    logits, value = mixed(obs)
    assert seen == [torch.bfloat16] * 4  # three convolutions and the 512-unit layer
    assert logits.dtype == value.dtype == torch.float32
    features = mixed.actor_encoder(obs)
    assert features.dtype == torch.float32
    torch.testing.assert_close(features, _emulated_bfloat16(mixed.actor_encoder, obs), atol=2e-2, rtol=2e-2)
    # the same function as float32 within bfloat16's rounding, but not float32's numbers
    want_logits, want_value = plain(obs)
    torch.testing.assert_close(logits, want_logits, atol=5e-2, rtol=5e-2)
    torch.testing.assert_close(value, want_value, atol=5e-2, rtol=5e-2)
    assert not torch.equal(features, plain.actor_encoder(obs))
    # weights and their gradients stay float32, and point where float32's do
    for model in (plain, mixed):
        model.zero_grad()
        logits, value = model(obs)
        (logits.logsumexp(-1).sum() + value.square().sum()).backward()
    for (name, p), q in zip(plain.named_parameters(), mixed.parameters()):
        assert q.dtype == q.grad.dtype == torch.float32, name
        cosine = F.cosine_similarity(p.grad.flatten(), q.grad.flatten(), dim=0)
        assert cosine > 0.99, (name, cosine)


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_without_autograd_the_weights_are_cast_once_and_give_autocasts_numbers(channels_last):
    """Acting and evaluation (no autograd) run the layers on bfloat16 weights cast once: the same
    bits as autocast's forward, and cast anew after an optimiser step or a load changes them."""
    _, mixed = _models("bfloat16", channels_last)
    cnn, obs = mixed.actor_encoder, _obs()
    with torch.no_grad():
        cast = cnn(obs)
        first = cnn._cast_weights(torch.bfloat16)
        assert cnn._cast_weights(torch.bfloat16) is first  # kept while nothing changes
    assert torch.equal(cast, cnn(obs).detach())  # autocast's forward, with autograd on
    optimiser = torch.optim.SGD(cnn.parameters(), lr=0.5)
    cnn(obs).square().sum().backward()
    optimiser.step()
    with torch.inference_mode():
        stepped = cnn(obs)
    assert not torch.equal(stepped, cast) and torch.equal(stepped, cnn(obs).detach())
    state = {k: v + 0.25 for k, v in cnn.state_dict().items()}
    cnn.load_state_dict(state)
    assert torch.equal(torch.no_grad()(cnn)(obs), cnn(obs).detach())


def test_float32_is_the_plain_cnn_bit_for_bit():
    plain, same = _models("float32")
    assert torch.equal(same(_obs())[0], plain(_obs())[0])


@pytest.mark.parametrize("native", [True, False])
def test_auto_takes_bfloat16_where_the_hardware_computes_it(monkeypatch, native):
    monkeypatch.setattr(encoders, "native_bfloat16", lambda device_type: native)
    _, auto = _models("auto")
    _, explicit = _models("bfloat16" if native else "float32")
    assert auto.actor_encoder.computes_in(torch.device("cpu")) == (torch.bfloat16 if native else torch.float32)
    assert torch.equal(auto(_obs())[0], explicit(_obs())[0])


@pytest.mark.parametrize("avx512_bf16, amx, native", [(True, False, True), (False, True, True), (False, False, False)])
def test_native_bfloat16_reads_the_cpu_flags(monkeypatch, avx512_bf16, amx, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    native_bfloat16.cache_clear()
    try:
        assert native_bfloat16("cpu") is native
        assert native_bfloat16("meta") is False
    finally:
        native_bfloat16.cache_clear()


@pytest.mark.parametrize("available, native", [(True, True), (True, False), (False, True)])
def test_native_bfloat16_on_cuda_counts_only_hardware_bfloat16(monkeypatch, available, native):
    asked = {}

    def supported(including_emulation=True):
        asked["including_emulation"] = including_emulation
        return native or including_emulation  # an emulating GPU says yes unless told not to count it

    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    native_bfloat16.cache_clear()
    try:
        assert native_bfloat16("cuda") is (available and native)
        assert asked == ({"including_emulation": False} if available else {})
    finally:
        native_bfloat16.cache_clear()


def test_set_cnn_precision_switches_every_nature_cnn():
    _, mixed = _models("bfloat16")
    set_cnn_precision(mixed, "float32")
    plain, _ = _models("bfloat16")
    assert torch.equal(mixed(_obs())[0], plain(_obs())[0])
    with pytest.raises(ValueError, match="unknown cnn_precision 'half'"):
        set_cnn_precision(mixed, "half")


def test_unknown_precision_and_models_without_a_nature_cnn_are_refused():
    with pytest.raises(ValueError, match=r"unknown cnn_precision 'fp16'; choose one of \('float32', 'bfloat16', 'auto'\)"):
        ModelConfig(cnn_precision="fp16")
    vector = spaces.Box(-1.0, 1.0, (3,), np.float32)
    with pytest.raises(ValueError, match="model.cnn_precision=bfloat16 applies to the Nature CNN .* MLP: drop model.cnn_precision"):
        ActorCritic(vector, spaces.Discrete(2), ModelConfig(cnn_precision="bfloat16"))
    small = spaces.Box(0, 255, (3, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="SmallCNN: drop model.cnn_precision"):
        ActorCritic(small, spaces.Discrete(2), ModelConfig(cnn_precision="auto"))


def _train(tmp_path, backend: str, capsys, algo: str = "ppo") -> tuple[int, str]:
    sets = ["num_envs=2", "num_workers=2", "trainer.nsteps=16", "trainer.validate_freq=0", "trainer.tensorboard=false",
            "trainer.torch_threads=1", "model.cnn_precision='bfloat16'", f"distributed='{backend}'"]
    code = main(["train", "--algo", algo, "--env", "matrix_envs:MatrixImage-v0", "--total-timesteps", "64",
                 "--run-dir", str(tmp_path / "run"), "--no-progress", "--seed", "3", *[a for s in sets for a in ("--set", s)]])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_bfloat16_trains_resumes_evaluates_and_exports_in_float32(tmp_path, capsys, algo):
    code, out = _train(tmp_path, "local", capsys, algo)
    assert code == 0 and "[acting torch, update autograd, cnn bfloat16, env step lean]" in out
    resumed, payload = resume_evaluate_export(tmp_path / "run", tmp_path, capsys)
    assert "cnn bfloat16" in resumed
    assert payload["config"]["model"]["cnn_precision"] == "bfloat16"
    assert all(t.dtype != torch.bfloat16 for t in payload["model"].values())


def test_bfloat16_on_ray_rollout_workers(tmp_path, capsys, ray_instance):
    code, out = _train(tmp_path, "ray", capsys)
    assert code == 0 and "cnn bfloat16" in out
