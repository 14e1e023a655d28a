"""Record a policy playing: RGB frames from one evaluation env, written as a GIF or an MP4.

GIFs are written with Pillow (a dependency of matplotlib, so always present); MP4s need
``imageio`` and ``imageio-ffmpeg``. MuJoCo renders off-screen through EGL when no display is
available.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from advantage.data.observations import ObsLayout, is_structured
from advantage.envs.action_masks import single_env_mask
from advantage.envs.atari import is_atari_id
from advantage.envs.vector import EnvFactory, import_env_module, make_env

VIDEO_SUFFIXES = (".gif", ".mp4")
ATARI_FPS = 15  # 60 Hz emulator frames, one observation every 4 frames


def _frames_per_second(env_id: str | EnvFactory, metadata: dict) -> int:
    atari = isinstance(env_id, str) and is_atari_id(import_env_module(env_id))
    return ATARI_FPS if atari else int(metadata.get("render_fps") or 30)


@torch.inference_mode()
def collect_frames(
    model: torch.nn.Module,
    env_id: str | EnvFactory,
    episodes: int = 1,
    deterministic: bool = True,
    seed: int | None = None,
    max_frames: int = 2_000,
    env_kwargs: dict | None = None,
) -> tuple[list[np.ndarray], int]:
    """Frames (H, W, 3) uint8 of ``episodes`` episodes (at most ``max_frames``) and the frame rate.

    The env is built as evaluation envs are (for Atari: no episodic life, no reward clipping),
    so one episode is one whole game. Structured observations are flattened and action masks
    obeyed as in training; the model's memory is carried through each episode.
    """
    if "DISPLAY" not in os.environ:
        os.environ.setdefault("MUJOCO_GL", "egl")
    device = next(model.parameters()).device
    env = make_env(env_id, training=False, render_mode="rgb_array", **(env_kwargs or {}))
    layout = ObsLayout(env.observation_space) if is_structured(env.observation_space) else None
    mask_size = getattr(model.head, "mask_size", None)
    try:
        fps = _frames_per_second(env_id, env.metadata)
        frames: list[np.ndarray] = []
        for episode in range(episodes):
            obs, info = env.reset(seed=None if seed is None else seed + episode)
            frames.append(env.render())
            done = False
            memory = model.initial_memory(1)
            start = torch.ones(1, dtype=torch.bool, device=device)
            while not done and len(frames) < max_frames:
                flat = obs if layout is None else layout.flatten(obs, None)
                batch = torch.as_tensor(np.asarray(flat)[None], device=device)
                mask = None if mask_size is None else single_env_mask(env, obs, info, mask_size)
                masked = {} if mask is None else {"action_mask": torch.as_tensor(mask[None], device=device)}
                action, _, _, memory = model.act(batch, start, memory, deterministic, **masked)
                start = torch.zeros_like(start)
                obs, _, terminated, truncated, info = env.step(model.head.to_env(action.cpu())[0])
                frames.append(env.render())
                done = terminated or truncated
            if len(frames) >= max_frames:
                break
        return frames, fps
    finally:
        env.close()


def write_video(frames: list[np.ndarray], path: str | Path, fps: int) -> Path:
    """Write ``frames`` to ``path`` (.gif with Pillow, .mp4 with imageio-ffmpeg)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"video file must end in {' or '.join(VIDEO_SUFFIXES)}, got {path.name!r}")
    if not frames:
        raise ValueError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        from PIL import Image

        images = [Image.fromarray(frame) for frame in frames]
        duration_ms = max(20, 10 * round(100 / fps))  # GIF delays are whole 10 ms; browsers floor at 20
        images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
        return path
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401 — imageio's MP4 writer
    except ImportError as exc:
        raise ValueError(
            "writing .mp4 needs imageio and imageio-ffmpeg: pip install imageio imageio-ffmpeg "
            "(or write a .gif, which needs nothing more)"
        ) from exc
    imageio.mimwrite(path, frames, fps=fps, macro_block_size=1)
    return path
