"""Atari (ALE) environments with the standard DQN/PPO preprocessing, from Gymnasium's wrappers.

One env is, from the inside out (Mnih et al. 2015; Machado et al. 2018; as in SB3 and CleanRL):

    ALE env (frameskip=1)        the raw game; ``ALE/*-v5`` keeps its sticky actions (p=0.25)
    AtariPreprocessing           no-op reset (up to 30), frame skip 4 with a max over the last
                                 two frames, 84×84 greyscale
                                 (:class:`ScreenPreprocessing`, see below)
    RecordEpisodeStatistics      the true game score and length, reported at game over only
    EpisodicLife (training)      a lost life ends the learner's episode; the game goes on
    FireReset                    press FIRE after every (learner) reset in games that need it
    reward sign (training)       rewards clipped to {-1, 0, +1}
    FrameStackObservation(4)     (4, 84, 84) uint8 observations

The preprocessing reads the two frames it pools from the emulator itself and never the raw env's
own observation, which the raw env still fetches on every emulator frame: the RGB screen, ~21 µs
of a ~100 µs frame (4 frames an env step). So unless ``env_kwargs`` name an ``obs_type``, the raw
env is made with ``obs_type="ram"`` (128 bytes) and :class:`ScreenPreprocessing` sizes the pooling
buffers from the screen instead: the same observations, rewards and ends, bit for bit
(``tests/envs/test_atari.py``). ``env_kwargs={"obs_type": "rgb"}`` gives Gymnasium's own stack.

The statistics wrapper sits below the episodic-life and reward-clipping wrappers, so the episode
returns :class:`advantage.envs.vector.VecEnv` reports are whole games with unclipped rewards while the
learner sees one episode per life and clipped rewards. Evaluation envs (``training=False``)
drop both: one episode is one game and the reward is the score.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import (
    AtariPreprocessing,
    FrameStackObservation,
    RecordEpisodeStatistics,
    TransformReward,
)

SCORE_KEY = "episode"  # where RecordEpisodeStatistics puts {"r": return, "l": length} at game over
INSTALL_HINT = 'Atari environments need ale-py: pip install "advantage[atari]"'


def is_atari_id(env_id: str) -> bool:
    """``ALE/Pong-v5``, ``PongNoFrameskip-v4``, ``Pong-v4``: the ids ale-py registers."""
    if env_id.startswith("ALE/"):
        return True
    spec = gym.registry.get(env_id)
    if spec is not None:
        return isinstance(spec.entry_point, str) and spec.entry_point.startswith("ale_py")
    return "NoFrameskip" in env_id


def register_ale() -> bool:
    """Register ale-py's envs with Gymnasium (once); False when ale-py is not installed."""
    if "ALE/Pong-v5" in gym.registry:
        return True
    try:
        import ale_py
    except ImportError:
        return False
    gym.register_envs(ale_py)
    return True


class EpisodicLife(gym.Wrapper):
    """End the learner's episode when a life is lost, but reset the game only at game over.

    After a life loss, :meth:`reset` continues the same game with one no-op step instead of
    resetting it, so the agent plays every life of every game (Mnih et al. 2015).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.game_over or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op ended the game: its score info is kept
                obs, reset_info = self.env.reset(options=options)
                info = {**info, **reset_info}
        self.game_over = False
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info


class FireReset(gym.Wrapper):
    """Press FIRE (then action 2) after reset, for games that wait for it to start (Breakout)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()
        if len(meanings) < 3 or meanings[1] != "FIRE":
            raise ValueError(f"FireReset needs FIRE as action 1, got actions {meanings}")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        for action in (1, 2):
            obs, _, terminated, truncated, step_info = self.env.step(action)
            info = {**info, **step_info}
            if terminated or truncated:
                obs, reset_info = self.env.reset(options=options)
                info = {**info, **reset_info}
        return obs, info


class ScreenPreprocessing(AtariPreprocessing):
    """:class:`~gymnasium.wrappers.AtariPreprocessing` over a raw env whose own observation is
    not the screen (its RAM): the greyscale pooling buffers take the emulator's screen size, the
    one thing the wrapper read from the raw env's observation space. Every step and reset is
    AtariPreprocessing's own."""

    def __init__(self, env: gym.Env, **preprocessing: Any) -> None:
        super().__init__(env, **preprocessing)
        if not self.grayscale_obs:
            raise ValueError("ScreenPreprocessing pools greyscale screens; give the raw env an RGB obs_type for colour")
        height, width = self.ale.getScreenDims()
        self.obs_buffer = [np.empty((height, width), dtype=np.uint8) for _ in range(2)]


def needs_fire(env: gym.Env) -> bool:
    meanings = env.unwrapped.get_action_meanings()
    return len(meanings) >= 3 and meanings[1] == "FIRE"


def make_atari_env(
    env_id: str,
    training: bool = True,
    frame_stack: int = 4,
    noop_max: int = 30,
    render_mode: str | None = None,
    **env_kwargs: Any,
) -> gym.Env:
    """One preprocessed Atari env (see the module docstring for the stack)."""
    if not register_ale():
        raise gym.error.DependencyNotInstalled(INSTALL_HINT)
    # AtariPreprocessing does the frame skip; the id's own skip (4 for v5, 2-4 for v4) is turned
    # off. Sticky actions keep the id's default (0.25 for ALE/*-v5, 0 for NoFrameskip-v4).
    # Without an obs_type of the caller's, the raw env's (never read) observation is its RAM: see
    # the module docstring.
    screen_from_emulator = "obs_type" not in env_kwargs
    raw_obs = {"obs_type": "ram"} if screen_from_emulator else {}
    env = gym.make(env_id, frameskip=1, render_mode=render_mode, **raw_obs, **env_kwargs)
    preprocessing = ScreenPreprocessing if screen_from_emulator else AtariPreprocessing
    env = preprocessing(env, noop_max=noop_max, frame_skip=4, screen_size=84)
    env = RecordEpisodeStatistics(env)
    if training:
        env = EpisodicLife(env)
    if needs_fire(env):
        env = FireReset(env)
    if training:
        env = TransformReward(env, lambda r: float(np.sign(r)))
    return FrameStackObservation(env, frame_stack)


def envpool_task(env_id: str) -> tuple[str, float]:
    """EnvPool's task id and sticky-action probability for an ale-py id (``ALE/Pong-v5`` → Pong-v5, 0.25)."""
    if env_id.startswith("ALE/") and env_id.endswith("-v5"):
        return env_id[len("ALE/"):], 0.25
    if env_id.endswith("NoFrameskip-v4"):
        return env_id[: -len("NoFrameskip-v4")] + "-v5", 0.0
    raise ValueError(f"the envpool backend takes ALE/<Game>-v5 or <Game>NoFrameskip-v4 ids, got {env_id!r}")


class EnvPoolAtari:
    """EnvPool's C++ Atari envs as the vector env :class:`advantage.envs.vector.VecEnv` expects.

    EnvPool applies the same preprocessing in C++ (and the same training-only episodic life and
    reward clipping) and resets a finished env on the next step, as Gymnasium's next-step
    autoreset does. True game scores are summed here from EnvPool's unclipped ``info["reward"]``
    and reported at game over (``info["terminated"]`` or truncation) in ``info[SCORE_KEY]``.
    The pool is seeded when it is made, so :meth:`reset` with a seed makes it anew.
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, env_id: str, num_envs: int, training: bool = True) -> None:
        task, sticky = envpool_task(env_id)
        self.kwargs = dict(
            task_id=task, num_envs=num_envs, episodic_life=training, reward_clip=training,
            repeat_action_probability=sticky, noop_max=30, stack_num=4, img_height=84,
            img_width=84, use_fire_reset=True,
        )
        self.num_envs = num_envs
        self.pool = self._make(seed=0)
        self.single_observation_space = self.pool.observation_space
        self.single_action_space = self.pool.action_space
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._prev_done = np.zeros(num_envs, dtype=bool)

    def _make(self, seed: int) -> Any:
        import envpool

        return envpool.make_gymnasium(seed=seed, **self.kwargs)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.pool.close()
            self.pool = self._make(seed)
        obs, _ = self.pool.reset()
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._prev_done[:] = False
        return obs, {}

    def step(self, actions: np.ndarray):
        obs, reward, terminated, truncated, info = self.pool.step(np.asarray(actions))
        live = ~self._prev_done
        self._returns += np.where(live, info["reward"], 0.0)
        self._lengths += live
        game_over = np.asarray(info["terminated"], dtype=bool) | np.asarray(truncated, dtype=bool)
        scores = {"r": self._returns.copy(), "l": self._lengths.copy()}
        self._returns[game_over] = 0.0
        self._lengths[game_over] = 0
        self._prev_done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        return obs, reward, terminated, truncated, {SCORE_KEY: scores, f"_{SCORE_KEY}": game_over}

    def close(self) -> None:
        self.pool.close()
