"""Any Gymnasium environment: custom ids, env objects in the API, structured observations, every
standard action space and action masks (issue 16). The envs are in ``toy_envs.py``."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import toy_envs
from gymnasium import spaces

from advantage import PPO
from advantage.algorithms.a2c import A2CConfig
from advantage.algorithms.ppo import PPOConfig
from advantage.app.api import A2C, Agent
from advantage.data.observations import ObsLayout
from advantage.envs.vector import make_vec_env
from advantage.models import ModelConfig
from advantage.training.config import RunConfig, TrainerConfig

REPO = Path(__file__).resolve().parents[2]
QUICK = TrainerConfig(nsteps=32, validate_freq=0, total_steps=512)


def masked_agent(via: str, policy: str = "mlp", algo=PPO, total_steps: int = 12_000):
    env = "toy_envs:ToyMaskedMethod-v0" if via == "method" else "toy_envs:ToyMasked-v0"
    kwargs = {} if via == "method" else {"mask_via": via}
    config = PPOConfig(lr=3e-3, epochs=4, minibatches=4) if algo is PPO else A2CConfig(lr=3e-3)
    return algo(
        env, config, env_kwargs=kwargs, num_envs=8, seed=1,
        model=ModelConfig(policy=policy),
        trainer=TrainerConfig(nsteps=64, validate_freq=0, total_steps=total_steps),
    )


# -- action masks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["info", "method", "observation"])
def test_masked_env_never_takes_an_illegal_action_and_learns(via):
    """An illegal action ends the episode with -1. With masks, greedy evaluation takes none even
    untrained, training takes none either, and the policy learns to pick the target (return 8)."""
    agent = masked_agent(via)
    toy_envs.MaskedChoiceEnv.illegal_total = 0
    before = agent.evaluate(20)
    assert toy_envs.MaskedChoiceEnv.illegal_total == 0
    assert before.min() >= 0  # no episode ended on the penalty
    agent.learn()
    assert toy_envs.MaskedChoiceEnv.illegal_total == 0
    after = agent.evaluate(20)
    assert after.mean() >= 7.5 > before.mean() + 2  # 8 = the target every step
    assert toy_envs.MaskedChoiceEnv.illegal_total == 0


def test_without_masks_the_same_env_punishes_illegal_actions():
    """The control: a policy that ignores masks (uniform here) does take illegal actions, so the
    zero counts above measure the masking, not the env."""
    env = toy_envs.MaskedChoiceEnv()
    env.reset(seed=0)
    toy_envs.MaskedChoiceEnv.illegal_total = 0
    for _ in range(200):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    assert toy_envs.MaskedChoiceEnv.illegal_total > 50


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_recurrent_policy_obeys_masks(algo):
    agent = masked_agent("info", policy="lstm", algo=algo, total_steps=2_048)
    toy_envs.MaskedChoiceEnv.illegal_total = 0
    agent.learn()
    agent.evaluate(10)
    assert toy_envs.MaskedChoiceEnv.illegal_total == 0


def test_masks_reach_the_loss_as_stored_in_the_rollout():
    """The rollout stores each step's mask; training log-probs and entropy are over legal actions:
    recomputed with the stored mask, every taken action has probability > 0 and the entropy is at
    most log(number of legal actions)."""
    agent = masked_agent("info")
    envs = make_vec_env("toy_envs:ToyMasked-v0", 4, env_kwargs={"mask_via": "info"}, backend="sync")
    from advantage.training.collector import RolloutCollector

    collector = RolloutCollector(envs, agent.model, 16, torch.device("cpu"))
    collector.reset(seed=3)
    rollout = collector.collect()
    assert rollout.action_mask is not None and rollout.action_mask.shape == (16, 4, 4)
    taken_legal = rollout.action_mask.gather(-1, rollout.actions.unsqueeze(-1)).squeeze(-1)
    assert taken_legal.all()
    from advantage.losses.policy import log_prob_entropy

    logits, _ = agent.model(rollout.obs.reshape(-1, 4))
    mask = rollout.action_mask.reshape(-1, 4)
    logp, entropy = log_prob_entropy(logits, rollout.actions.reshape(-1), mask)
    assert torch.isfinite(logp).all()
    assert (entropy <= torch.log(mask.sum(-1).float()) + 1e-5).all()
    envs.close()


@pytest.mark.parametrize("algo", ["ppo", "a2c", "pg"])
def test_the_update_feeds_the_stored_masks_to_the_loss(algo):
    """The entropy an update reports is the entropy over the legal actions of each stored step
    (computed here independently from the model's logits and the rollout's masks), not over all."""
    from advantage.app.api import agent_class
    from advantage.data.batch import flatten
    from advantage.data.estimators import estimate
    from advantage.training.collector import RolloutCollector

    overrides = {"ppo": PPOConfig(epochs=1, minibatches=1, closed_form=True), "a2c": A2CConfig(), "pg": None}
    agent = agent_class(algo)("toy_envs:ToyMasked-v0", overrides[algo], env_kwargs={"mask_via": "info"}, trainer=QUICK)
    envs = make_vec_env("toy_envs:ToyMasked-v0", 4, env_kwargs={"mask_via": "info"}, backend="sync")
    collector = RolloutCollector(envs, agent.model, 32, torch.device("cpu"))
    collector.reset(seed=0)
    rollout = collector.collect()
    batch = flatten(rollout, *estimate(rollout, agent.algorithm.default_returns, 0.99, 0.95))
    envs.close()
    with torch.no_grad():
        logits, _ = agent.model(batch.obs)
    probs = torch.softmax(logits.masked_fill(~batch.action_mask, -torch.inf), -1)
    masked_entropy = -(probs * probs.clamp_min(1e-30).log()).sum(-1).mean().item()
    full = torch.softmax(logits, -1)
    unmasked_entropy = -(full * full.log()).sum(-1).mean().item()
    assert abs(masked_entropy - unmasked_entropy) > 0.1
    metrics = agent.algorithm.update(batch)
    assert metrics["entropy"] == pytest.approx(masked_entropy, abs=1e-5)


def test_predict_takes_a_mask_and_a_dict_observation_mask():
    agent = masked_agent("observation")
    obs = {"target": np.eye(4, dtype=np.float32)[0], "action_mask": np.array([0, 0, 1, 0], np.int8)}
    assert agent.predict(obs) == 2  # the only legal action
    flat_agent = masked_agent("info")
    batch = np.eye(4, dtype=np.float32)
    masks = np.array([[0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]], dtype=bool)
    assert list(flat_agent.predict(batch, action_mask=masks)) == [1, 3, 0, 2]
    with pytest.raises(ValueError, match="allows no action"):
        flat_agent.predict(batch[0], action_mask=np.zeros(4, bool))


def test_multidiscrete_masks_and_start():
    """MultiDiscrete with a start and a concatenated mask: only legal, in-space actions."""

    class Env(gym.Env):
        observation_space = spaces.Box(0, 1, (2,), np.float32)
        action_space = spaces.MultiDiscrete([3, 2], start=[5, -1])

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(2, np.float32), {"action_mask": np.array([0, 1, 0, 1, 0], bool)}

        def step(self, action):
            assert self.action_space.contains(np.asarray(action, dtype=np.int64)), action
            assert list(action) == [6, -1], action
            return np.zeros(2, np.float32), 0.0, False, False, {"action_mask": np.array([0, 1, 0, 1, 0], bool)}

    agent = PPO(Env, num_envs=2, trainer=QUICK, seed=0)
    agent.learn(256)
    assert list(agent.predict(np.zeros(2, np.float32), deterministic=False, action_mask=[0, 1, 0, 1, 0])) == [6, -1]


# -- action spaces ------------------------------------------------------------------------------
def test_discrete_with_start_sends_actions_in_the_space():
    """Discrete(3, start=-1): every action sent lands in {-1, 0, 1} (main sent 0..2), and the
    policy learns the best one (+1)."""
    agent = PPO("toy_envs:ToyShifted-v0", PPOConfig(lr=3e-3), num_envs=4, seed=1,
                trainer=TrainerConfig(nsteps=32, validate_freq=0, total_steps=2_048))
    envs = make_vec_env("toy_envs:ToyShifted-v0", 2, backend="sync")
    from advantage.training.collector import RolloutCollector

    collector = RolloutCollector(envs, agent.model, 64, torch.device("cpu"))
    collector.reset(seed=0)
    collector.collect()
    inner = [e.unwrapped for e in envs.env.envs]
    assert sum(e.out_of_space for e in inner) == 0
    assert set().union(*(e.seen for e in inner)) == {-1, 0, 1}
    envs.close()
    agent.learn()
    assert agent.evaluate(3).mean() == pytest.approx(16.0)
    assert agent.predict(np.zeros(2, np.float32)) == 1


def test_multibinary_learns_to_copy_bits():
    agent = PPO("toy_envs:ToyCopyBits-v0", PPOConfig(lr=3e-3, epochs=4, minibatches=4), num_envs=8, seed=1,
                trainer=TrainerConfig(nsteps=32, validate_freq=0, total_steps=8_000))
    before = agent.evaluate(10).mean()
    agent.learn()
    after = agent.evaluate(10).mean()
    assert after >= 6.5 > before  # 8 = every bit copied at every step; chance is 4
    action = agent.predict(np.array([1, 0, 1, 1], np.float32))
    assert action.dtype == np.int8 and list(action) == [1, 0, 1, 1]


def test_unsupported_action_space_is_one_clear_line():
    class Env(gym.Env):
        observation_space = spaces.Box(0, 1, (2,), np.float32)
        action_space = spaces.Text(5)

    with pytest.raises(TypeError, match="unsupported action space .*Discrete, MultiDiscrete, MultiBinary"):
        PPO(Env)


# -- observation spaces -------------------------------------------------------------------------
def test_layout_flattens_dict_tuple_discrete_nested():
    space = spaces.Dict({
        "a": spaces.Discrete(3, start=1),
        "b": spaces.Tuple((spaces.Box(0, 1, (2,)), spaces.MultiDiscrete([2, 3]))),
        "action_mask": spaces.MultiBinary(4),
    })
    layout = ObsLayout(space)
    assert [leaf.name for leaf in layout.leaves] == ["a", "b.0", "b.1"]
    obs = {"a": 3, "b": (np.array([0.25, 0.5]), np.array([1, 0])), "action_mask": np.ones(4)}
    expected = [0, 0, 1, 0.25, 0.5, 0, 1, 1, 0, 0]  # one-hot(3-1), box, one-hot(1) | one-hot(0)
    np.testing.assert_allclose(layout.flatten(obs, None), expected)
    batched = {"a": np.array([1, 3]), "b": (np.array([[0, 0], [0.25, 0.5]]), np.array([[0, 2], [1, 0]])),
               "action_mask": np.ones((2, 4))}
    assert layout.batch_size(batched) == 2
    np.testing.assert_allclose(layout.flatten(batched, 2)[1], expected)
    np.testing.assert_allclose(layout.flatten(batched, 2)[0], [1, 0, 0, 0, 0, 1, 0, 0, 0, 1])


@pytest.mark.parametrize("channels_last", [True, False])
def test_dict_env_with_image_and_vector_learns(channels_last):
    """The rewarded action depends on the image and the vector together (XOR): it is learned."""
    agent = PPO(toy_envs.ImageVectorEnv, PPOConfig(lr=2e-3, epochs=4, minibatches=4),
                env_kwargs={"channels_last": channels_last}, num_envs=8, seed=1,
                model=ModelConfig(normalize_obs=True),
                trainer=TrainerConfig(nsteps=32, validate_freq=0, total_steps=8_000))
    agent.learn()
    assert agent.evaluate(100, seed=5).mean() >= 0.8  # chance is 0.5
    image_part = agent.model.obs_normalizer(torch.full((1, 194), 200.0))[0, :192]
    assert (image_part == 200).all()  # images are scaled by their CNN, never normalised


def test_tuple_observations_blackjack():
    agent = PPO("Blackjack-v1", num_envs=4, trainer=QUICK).learn()
    assert agent.predict((14, 10, 0)) in (0, 1)
    assert agent.predict((np.array([14, 20]), np.array([10, 1]), np.array([0, 1]))).shape == (2,)


def test_unsupported_observation_part_names_the_fix():
    pytest.importorskip("minigrid")
    import minigrid  # noqa: F401

    with pytest.raises(TypeError, match="unsupported observation space .*NoMission"):
        PPO("MiniGrid-Empty-5x5-v0")


def test_discrete_observations_frozenlake():
    agent = PPO("FrozenLake-v1", env_kwargs={"is_slippery": False}, num_envs=4, trainer=QUICK)
    agent.learn()
    assert agent.predict(0) in range(4)
    assert agent.run_config.env_kwargs == {"is_slippery": False}


def test_dict_observations_with_lstm_and_resume(tmp_path):
    config = RunConfig.from_dict({
        "algo": "ppo", "env": "toy_envs:ToyMasked-v0", "env_kwargs": {"mask_via": "observation"},
        "num_envs": 4, "env_backend": "sync", "model": {"policy": "lstm", "normalize_obs": True},
        "algorithm": {"decay_steps": 10_000, "epochs": 2, "minibatches": 2},
        "trainer": {"nsteps": 16, "save_freq": 128, "validate_freq": 0, "deterministic": True},
    })
    toy_envs.MaskedChoiceEnv.illegal_total = 0
    whole = PPO(run_config=config).learn(256, run_dir=tmp_path / "whole")
    PPO(run_config=config).learn(128, run_dir=tmp_path / "cut")
    resumed = PPO.resume(tmp_path / "cut").learn(128)  # 128 more steps
    assert resumed.summary["resumed_from_step"] == 128
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert toy_envs.MaskedChoiceEnv.illegal_total == 0
    payload = torch.load(next((tmp_path / "cut" / "checkpoints").glob("step_*.pt")), weights_only=True)
    assert payload["config"]["env_kwargs"] == {"mask_via": "observation"}


# -- the API's env argument ---------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: "toy_envs:ToyShifted-v0",
    lambda: gym.spec("ToyShifted-v0"),
    lambda: toy_envs.ShiftedDiscreteEnv,
    lambda: (lambda: toy_envs.ShiftedDiscreteEnv()),
    lambda: functools.partial(gym.make, "ToyShifted-v0"),
    lambda: gym.make("ToyShifted-v0"),
    lambda: gym.make_vec("ToyShifted-v0", num_envs=3, vectorization_mode="sync"),
    lambda: gym.vector.SyncVectorEnv([toy_envs.ShiftedDiscreteEnv] * 3),
], ids=["id", "spec", "class", "lambda", "partial", "instance", "make_vec", "vector"])
def test_api_accepts_what_users_have(make):
    env = make()
    agent = PPO(env, seed=0, trainer=QUICK)
    if isinstance(env, gym.vector.VectorEnv):
        assert agent.run_config.num_envs == 3
    agent.learn()
    assert agent.evaluate(2).shape == (2,)
    assert agent.predict(np.zeros(2, np.float32)) in (-1, 0, 1)


def test_env_instance_without_spec_predicts_and_evaluates_but_does_not_train():
    agent = PPO(toy_envs.ShiftedDiscreteEnv(), trainer=QUICK)
    assert agent.evaluate(2).shape == (2,)
    with pytest.raises(ValueError, match="pass a callable returning a new env"):
        agent.learn()


def test_api_refuses_other_objects_naming_what_is_accepted():
    with pytest.raises(TypeError, match="an env id .* EnvSpec, a callable .* instance .* vector env"):
        PPO(42)
    with pytest.raises(ValueError, match="env_kwargs apply where advantage makes the env"):
        PPO(toy_envs.ShiftedDiscreteEnv(), env_kwargs={"size": 3})


def test_callable_env_run_is_loaded_by_passing_the_callable(tmp_path):
    agent = PPO(toy_envs.ShiftedDiscreteEnv, seed=0, trainer=QUICK).learn(run_dir=tmp_path / "run")
    assert agent.run_config.env.startswith("callable:")
    with pytest.raises(ValueError, match="pass it again"):
        PPO.load(tmp_path / "run")
    loaded = PPO.load(tmp_path / "run", env=toy_envs.ShiftedDiscreteEnv)
    assert loaded.predict(np.zeros(2, np.float32)) == agent.predict(np.zeros(2, np.float32))


def test_unimportable_module_is_one_clear_line():
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_x'.*PYTHONPATH"):
        PPO("no_such_module_x:Env-v0")
    with pytest.raises(ValueError, match="did not register it"):
        PPO("toy_envs:NotThere-v0")


# -- the CLI with module:EnvId ------------------------------------------------------------------
def test_cli_module_env_id_trains_evaluates_resumes_and_records_in_a_new_process(tmp_path):
    """``--env mymod:Env-v0`` from a working directory that is not the module's (the module's
    directory on PYTHONPATH): train, eval, --resume and --video each in a new process."""
    modules, elsewhere = tmp_path / "modules", tmp_path / "elsewhere"
    modules.mkdir()
    elsewhere.mkdir()
    shutil.copy(Path(toy_envs.__file__), modules / "my_masked_envs.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(modules), str(REPO)])}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "advantage.cli", *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=240)

    run = cli("train", "--env", "my_masked_envs:ToyMasked-v0", "--env-kwargs", '{"mask_via": "info", "length": 4}',
              "--total-timesteps", "512", "--num-envs", "2", "--run-dir", "run", "--no-progress",
              "--set", "trainer.nsteps=64", "--set", "trainer.save_freq=256", "--set", "trainer.validate_freq=256")
    assert run.returncode == 0, run.stderr
    config = (elsewhere / "run" / "config.toml").read_text()
    assert 'env = "my_masked_envs:ToyMasked-v0"' in config and "mask_via" in config
    evaluated = cli("eval", "run", "--episodes", "3", "--deterministic", "--json", "--video", "ep.gif")
    assert evaluated.returncode == 0, evaluated.stderr
    assert '"mean_return"' in evaluated.stdout and (elsewhere / "ep.gif").stat().st_size > 0
    resumed = cli("train", "--resume", "run", "--total-timesteps", "1024", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "step_0000001024.pt" in {p.name for p in (elsewhere / "run" / "checkpoints").iterdir()}


def test_cli_bad_env_kwargs_and_module_are_one_line(tmp_path, capsys):
    from advantage.cli import main

    assert main(["train", "--env", "CartPole-v1", "--env-kwargs", "[1]", "--run-dir", str(tmp_path / "r")]) == 2
    assert "--env-kwargs must be a JSON object" in capsys.readouterr().err
    assert main(["train", "--env", "nomodule_zz:X-v0", "--run-dir", str(tmp_path / "r")]) == 2
    assert "cannot import module 'nomodule_zz'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_agent_load_dispatches_by_algo(tmp_path):
    A2C("toy_envs:ToyShifted-v0", trainer=QUICK).learn(run_dir=tmp_path / "a2c")
    assert type(Agent.load(tmp_path / "a2c")).__name__ == "A2C"


def test_minigrid_dict_observations_end_to_end(tmp_path):
    """MiniGrid's Dict observation (7x7x3 image + direction; mission dropped): trains, saves,
    loads, evaluates and predicts from the env's own observation."""
    pytest.importorskip("minigrid")
    from advantage.envs.minigrid import DropMission

    env_id = "advantage.envs.minigrid:NoMission/MiniGrid-Empty-5x5-v0"
    agent = PPO(env_id, num_envs=2, trainer=QUICK, model=ModelConfig(policy="lstm")).learn(run_dir=tmp_path / "run")
    loaded = PPO.load(tmp_path / "run")
    assert loaded.evaluate(2).shape == (2,)
    env = DropMission(gym.make("MiniGrid-Empty-5x5-v0"))
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs)
    assert env.action_space.contains(int(action))
    with pytest.raises(ValueError, match="needs a Dict observation with a 'mission' key"):
        DropMission(gym.make("CartPole-v1"))


def _readme_block(text: str, starts_with: str) -> str:
    for block in text.split("```")[1::2]:
        body = block.split("\n", 1)[1]
        if body.startswith(starts_with):
            return body
    raise AssertionError(f"README has no code block starting with {starts_with!r}")


def test_readme_custom_env_example_runs_as_written(tmp_path):
    """The README's custom-env example, copied verbatim: the module, the two CLI commands (in a
    fresh process, from the module's directory with PYTHONPATH=.) and the Python snippet."""
    import shlex

    readme = (REPO / "README.md").read_text()
    (tmp_path / "corridor.py").write_text(_readme_block(readme, "# corridor.py"))
    commands = _readme_block(readme, "export PYTHONPATH=.").strip().splitlines()[1:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([".", str(REPO)])}
    for command in commands:
        argv = shlex.split(command.split("  #")[0])
        assert argv[0] == "advantage"
        done = subprocess.run([sys.executable, "-m", "advantage.cli", *argv[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert "mean return 1.00" in done.stdout
    snippet = _readme_block(readme, "from advantage import PPO")
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[0]) == 1.0


def test_ray_workers_import_the_module_and_obey_masks_of_dict_observations(tmp_path):
    """PPO on 2 Ray workers with ``toy_envs:ToyMasked-v0`` (Dict observation with an action_mask
    key; an illegal action raises in the worker): the workers import the module themselves, act
    only legally, and the run completes with no rollout lost."""
    pytest.importorskip("ray")
    code = (
        "from advantage import PPO\n"
        "from advantage.training.config import RunConfig\n"
        "config = RunConfig.from_dict({'algo': 'ppo', 'env': 'toy_envs:ToyMasked-v0',\n"
        "    'env_kwargs': {'mask_via': 'observation', 'strict': True}, 'num_envs': 4, 'distributed': 'ray',\n"
        "    'num_workers': 2, 'trainer': {'nsteps': 32, 'total_steps': 512, 'validate_freq': 256,\n"
        "    'num_val_episodes': 2, 'tensorboard': False}})\n"
        "agent = PPO(run_config=config).learn()\n"
        "print(agent.summary['dropped_rollouts'], agent.summary['delivered_rollouts'], agent.summary['env_steps'])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(toy_envs.__file__).parent), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    dropped, delivered, steps = map(int, done.stdout.split()[-3:])
    assert (dropped, delivered, steps) == (0, 8, 512)


@pytest.mark.parametrize("side", [84, 7])
def test_channel_last_images_are_detected(side):
    """An (H, W, C) image gives what the same weights give on its (C, H, W) form (the Nature CNN
    from 36 pixels up, the small CNN below)."""
    from advantage.models.multi_input import image_encoder

    torch.manual_seed(0)
    first = image_encoder((3, side, side))
    torch.manual_seed(0)
    last = image_encoder((side, side, 3))
    x = torch.randint(0, 255, (2, 3, side, side), dtype=torch.uint8)
    torch.testing.assert_close(first(x), last(x.permute(0, 2, 3, 1)))


def test_a_mask_of_the_wrong_size_is_one_clear_line():
    class Env(toy_envs.MaskedChoiceEnv):
        def _info(self):
            return {"action_mask": np.ones(3, bool)}

    envs = make_vec_env(Env, 2, backend="sync")
    with pytest.raises(ValueError, match=r"info\['action_mask'\] has shape \(2, 3\); expected 4 flags per env"):
        envs.reset(seed=0)
    envs.close()
