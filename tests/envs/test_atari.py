"""Atari: the preprocessing stack, true game scores under episodic life, a short PPO run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TransformReward

from advantage import PPO, Agent
from advantage.app.defaults import default_config, env_family
from advantage.envs import atari as atari_module
from advantage.envs.atari import EpisodicLife, FireReset, ScreenPreprocessing
from advantage.envs.vector import check_env_id, make_env, make_vec_env


def wrapper_types(env: gym.Env) -> list[type]:
    found = []
    while isinstance(env, gym.Wrapper):
        found.append(type(env))
        env = env.env
    return found


@pytest.mark.parametrize("env_id, sticky", [("ALE/Pong-v5", 0.25), ("BreakoutNoFrameskip-v4", 0.0)])
def test_pipeline_shapes_dtypes_and_base_env(env_id, sticky):
    """(4, 84, 84) uint8 stacks; the raw env skips no frame (the wrapper does) and keeps its stickiness."""
    check_env_id(env_id)  # registers ale-py's ids
    env = make_env(env_id)
    try:
        assert env.observation_space == gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
        assert env.unwrapped._frameskip == 1
        assert env.unwrapped.spec.kwargs["repeat_action_probability"] == sticky
        preprocessing = env
        while not isinstance(preprocessing, AtariPreprocessing):
            preprocessing = preprocessing.env
        assert (preprocessing.frame_skip, preprocessing.noop_max, preprocessing.screen_size) == (4, 30, (84, 84))
        obs, _ = env.reset(seed=3)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
        rng = np.random.default_rng(0)
        for _ in range(40):
            new, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            assert new.shape == (4, 84, 84) and new.dtype == np.uint8
            assert reward in (-1.0, 0.0, 1.0)
            np.testing.assert_array_equal(new[:-1], obs[1:])  # the stack shifts by one frame
            obs = new
            if terminated or truncated:
                break
        assert obs.max() > obs.min()  # real pixels, not a blank screen
    finally:
        env.close()


def _timeless(out: tuple) -> tuple:
    """A step's or reset's outputs without the episode's wall-clock time (``info["episode"]["t"]``)."""
    *head, info = out
    if "episode" in info:
        info = {**info, "episode": {k: v for k, v in info["episode"].items() if k != "t"}}
    return (*head, info)


def _play(env: gym.Env, steps: int, seed: int) -> list:
    """Everything the env hands out over ``steps`` random actions, resetting at every episode end."""
    rng = np.random.default_rng(seed)
    seen = [env.reset(seed=seed)]
    for _ in range(steps):
        out = env.step(int(rng.integers(env.action_space.n)))
        seen.append(out)
        if out[2] or out[3]:
            seen.append(env.reset())
    return seen


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
@pytest.mark.parametrize("env_id", ["BreakoutNoFrameskip-v4", "ALE/Pong-v5"])
def test_screen_from_the_emulator_gives_gymnasiums_stack_bit_for_bit(env_id, training):
    """The raw env made with its RAM as observation (the default) hands out what Gymnasium's own
    stack (``obs_type="rgb"``) does: observations, rewards, ends and infos, over lost lives, game
    overs, sticky actions (Pong-v5) and resets."""
    check_env_id(env_id)
    lean, plain = make_env(env_id, training), make_env(env_id, training, obs_type="rgb")
    try:
        assert lean.unwrapped._obs_type == "ram" and plain.unwrapped._obs_type == "rgb"
        assert ScreenPreprocessing in wrapper_types(lean) and ScreenPreprocessing not in wrapper_types(plain)
        assert lean.observation_space == plain.observation_space
        got, want = _play(lean, 1500, seed=5), _play(plain, 1500, seed=5)
        assert len(got) == len(want) and sum(len(x) == 2 for x in want) >= 2  # an episode ended
        for a, b in zip(got, want):
            assert len(a) == len(b)
            np.testing.assert_array_equal(a[0], b[0])
            assert _timeless(a[1:]) == _timeless(b[1:])
    finally:
        lean.close()
        plain.close()


def test_training_and_evaluation_stacks():
    """Training adds episodic life and sign-clipped rewards; evaluation plays whole games unclipped."""
    train, evaluation = make_env("BreakoutNoFrameskip-v4"), make_env("BreakoutNoFrameskip-v4", training=False)
    try:
        train_types, eval_types = wrapper_types(train), wrapper_types(evaluation)
        for needed in (EpisodicLife, FireReset, TransformReward, FrameStackObservation, ScreenPreprocessing):
            assert needed in train_types
        assert EpisodicLife not in eval_types and TransformReward not in eval_types
        assert FireReset in eval_types and ScreenPreprocessing in eval_types
    finally:
        train.close()
        evaluation.close()
    freeway = make_env("FreewayNoFrameskip-v4")  # actions NOOP, UP, DOWN: nothing to fire
    try:
        assert FireReset not in wrapper_types(freeway)
    finally:
        freeway.close()


def test_episodic_life_ends_learner_episode_but_not_the_game():
    """A lost life terminates the learner's episode; the next reset continues the same game."""
    env = make_env("BreakoutNoFrameskip-v4")
    ale = env.unwrapped.ale
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    lives_at_reset = [ale.lives()]
    try:
        while len(lives_at_reset) < 3:
            lives = ale.lives()
            _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            if terminated or truncated:
                assert ale.lives() == lives - 1, "terminated exactly when a life was lost"
                env.reset()
                lives_at_reset.append(ale.lives())
    finally:
        env.close()
    assert lives_at_reset == [5, 4, 3]  # a real reset would have restored 5 lives


class RawScore(gym.Wrapper):
    """Directly around the raw ALE env: every frame's reward, summed per game."""

    def __init__(self, env: gym.Env, games: list[float]) -> None:
        super().__init__(env)
        self.games, self.score = games, 0.0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.score += reward
        if terminated or truncated:
            self.games.append(self.score)
            self.score = 0.0
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        self.score = 0.0
        return self.env.reset(**kwargs)


def test_logged_returns_are_true_game_scores_under_episodic_life(monkeypatch):
    """VecEnv's episode returns are whole games' unclipped scores, not lives or clipped sums."""
    games: list[list[float]] = []
    make = gym.make

    def make_recorded(env_id, **kwargs):
        games.append([])
        return RawScore(make(env_id, **kwargs), games[-1])

    monkeypatch.setattr(atari_module.gym, "make", make_recorded)
    envs = make_vec_env("SpaceInvadersNoFrameskip-v4", 2, backend="sync")
    rng = np.random.default_rng(1)
    logged: list[float] = []
    learner_episodes = 0
    clipped_sum = np.zeros(2)
    try:
        envs.reset(seed=5)
        while len(logged) < 2:
            step = envs.step(rng.integers(envs.single_action_space.n, size=2))
            learner_episodes += int((step.terminated | step.truncated).sum())
            clipped_sum += step.reward
            logged += envs.pop_episodes()[0].tolist()
    finally:
        envs.close()
    true_scores = sorted(score for env_games in games for score in env_games)
    assert sorted(logged) == true_scores and len(true_scores) >= 2
    assert learner_episodes > len(logged)  # the learner saw one episode per life
    assert max(logged) > 100  # SpaceInvaders pays 5-30 per alien: clipping would show
    assert np.all(np.abs(clipped_sum) < max(logged))


def test_atari_family_defaults():
    for env_id in ("ALE/Pong-v5", "BreakoutNoFrameskip-v4", "Pong-v4"):
        assert env_family(env_id) == "atari"
    config = default_config("ppo", "ALE/Pong-v5")
    assert (config.num_envs, config.trainer.nsteps) == (8, 128)
    assert (config.algorithm.epochs, config.algorithm.minibatches) == (4, 4)
    assert (config.algorithm.lr, config.algorithm.clip_ratio, config.algorithm.entropy_coeff) == (2.5e-4, 0.1, 0.01)
    assert config.algorithm.value_coeff == 0.5
    a2c = default_config("a2c", "BreakoutNoFrameskip-v4")
    assert (a2c.num_envs, a2c.trainer.nsteps, a2c.algorithm.optimizer) == (16, 5, "rmsprop")


def test_ppo_pong_smoke_checkpoint_reload_evaluate(tmp_path):
    """A few hundred steps of PPO on ALE/Pong-v5 with the Nature CNN: run, save, reload, evaluate."""
    config = default_config("ppo", "ALE/Pong-v5").with_overrides([
        "num_envs=2", "trainer.nsteps=32", "trainer.total_steps=128", "trainer.validate_freq=0",
        "trainer.tensorboard=false", "trainer.max_val_steps=60", "epochs=1", "minibatches=2",
        "trainer.torch_threads=1",
    ])
    agent = PPO(run_config=config)
    assert agent.observation_space.shape == (4, 84, 84)
    agent.learn(run_dir=tmp_path / "run")
    assert agent.summary["env_steps"] == 128
    loaded = Agent.load(tmp_path / "run")
    env = make_env("ALE/Pong-v5")
    obs = np.stack([env.reset(seed=s)[0] for s in range(3)])
    env.close()
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    returns = loaded.evaluate(episodes=1, seed=0)
    assert returns.shape == (1,) and -21 <= returns[0] <= 21


def test_video_gif_frames_and_mp4_needs_a_writer(tmp_path, monkeypatch):
    """Frames of one Atari game, each the emulator's RGB screen, written as an animated GIF."""
    from PIL import Image

    from advantage.cli import main

    config = default_config("ppo", "ALE/Pong-v5").with_overrides([
        "num_envs=1", "trainer.total_steps=8", "trainer.nsteps=8", "trainer.validate_freq=0",
        "trainer.tensorboard=false", "trainer.max_val_steps=20", "epochs=1", "minibatches=1",
    ])
    run = tmp_path / "run"
    PPO(run_config=config).learn(run_dir=run)
    gif = tmp_path / "pong.gif"
    assert main(["eval", str(run), "--episodes", "1", "--video", str(gif), "--video-frames", "12"]) == 0
    with Image.open(gif) as image:
        assert image.size == (160, 210)
        first = np.asarray(image.convert("RGB"))
        durations = []
        for index in range(image.n_frames):  # Pillow merges repeated frames, adding their durations
            image.seek(index)
            durations.append(image.info["duration"])
    assert sum(durations) == 12 * 70  # 12 frames at 15 fps (60 Hz, skip 4), delays in whole 10 ms
    env = make_env("ALE/Pong-v5", training=False, render_mode="rgb_array")
    env.reset(seed=0)
    screen = env.render()
    env.close()
    assert np.abs(first.astype(int) - screen.astype(int)).mean() < 2  # GIF palette, same picture
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)
    assert main(["eval", str(run), "--episodes", "1", "--video", str(tmp_path / "pong.mp4")]) == 2
    assert not (tmp_path / "pong.mp4").exists()
    assert main(["eval", str(run), "--video", str(tmp_path / "pong.avi")]) == 2


def test_envpool_backend_logs_true_game_scores():
    """EnvPool (when installed): same spaces as the Gymnasium stack; logs whole unclipped games."""
    pytest.importorskip("envpool")
    envs = make_vec_env("SpaceInvadersNoFrameskip-v4", 2, backend="envpool")
    reference = make_env("SpaceInvadersNoFrameskip-v4")
    rng = np.random.default_rng(2)
    logged: list[float] = []
    lengths: list[int] = []
    learner_episodes, learner_steps, clipped_sum = 0, 0, np.zeros(2)
    try:
        assert envs.single_observation_space == reference.observation_space
        assert envs.single_action_space == reference.action_space
        envs.reset(seed=3)
        while len(logged) < 2:
            step = envs.step(rng.integers(envs.single_action_space.n, size=2))
            assert set(np.unique(step.reward)) <= {-1.0, 0.0, 1.0}
            learner_episodes += int((step.terminated | step.truncated).sum())
            learner_steps += int((~step.reset_step).sum())
            clipped_sum += step.reward
            returns, episode_lengths = envs.pop_episodes()
            logged += returns.tolist()
            lengths += episode_lengths.tolist()
    finally:
        envs.close()
        reference.close()
    assert learner_episodes > len(logged)  # one learner episode per life
    assert all(score % 5 == 0 and score > 0 for score in logged)  # SpaceInvaders pays 5-30 points
    assert max(logged) > np.abs(clipped_sum).max()
    assert sum(lengths) <= learner_steps


def test_envpool_backend_rejects_ids_envpool_lacks():
    """Non-Atari ids go to EnvPool's own envs (CartPole has one); an id it lacks is refused."""
    pytest.importorskip("envpool")
    with pytest.raises(ValueError, match="EnvPool has no Taxi-v4"):
        make_vec_env("Taxi-v4", 2, backend="envpool")
