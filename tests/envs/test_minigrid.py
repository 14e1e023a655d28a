"""MiniGrid's image view: codes spread over the pixel range the space declares."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("minigrid")

from advantage.envs.ids import check_env_id  # noqa: E402
from advantage.envs.minigrid import CodesAsPixels, register  # noqa: E402


def test_image_view_spreads_each_channels_codes_over_0_255():
    from minigrid.wrappers import ImgObsWrapper

    register()
    raw_env = ImgObsWrapper(gym.make("MiniGrid-DoorKey-5x5-v0"))
    image_env = gym.make("MiniGridImage/MiniGrid-DoorKey-5x5-v0")
    raw, _ = raw_env.reset(seed=3)
    scaled, _ = image_env.reset(seed=3)
    assert image_env.observation_space.shape == (7, 7, 3) and scaled.dtype == np.uint8
    # object codes <= 10 times 25, colours <= 5 times 51, states <= 2 times 127: never past 255
    np.testing.assert_array_equal(scaled, raw.astype(np.int64) * np.array([25, 51, 127]))
    for _ in range(20):
        action = image_env.action_space.sample()
        raw, *_ = raw_env.step(action)
        scaled, *_ = image_env.step(action)
        np.testing.assert_array_equal(scaled, raw.astype(np.int64) * np.array([25, 51, 127]))
    assert scaled.max() > 200  # the wall (object 2, colour grey 5) reaches the top of the range


def test_codes_as_pixels_refuses_a_non_minigrid_image():
    with pytest.raises(ValueError, match="MiniGrid's \\(H, W, 3\\) image"):
        CodesAsPixels(gym.make("CartPole-v1"))


def test_a_bare_minigrid_id_names_the_module_that_registers_it(monkeypatch):
    import minigrid  # noqa: F401 — registered, then taken out: as in a process that never imported it

    with monkeypatch.context() as patch:
        patch.delitem(gym.registry, "MiniGrid-Empty-5x5-v0")
        with pytest.raises(ValueError, match=r"write 'minigrid:MiniGrid-Empty-5x5-v0' .*MiniGridImage/MiniGrid-Empty-5x5-v0"):
            check_env_id("MiniGrid-Empty-5x5-v0")
    check_env_id("minigrid:MiniGrid-Empty-5x5-v0")  # and that form is registered
