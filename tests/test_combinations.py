"""The combination matrix: every algorithm × policy × backend × action space × normalisation option
either works end to end as a user runs it (``advantage train``, ``train --resume``, ``eval --video``)
or is refused before any work with one line naming the combination.

A supported cell trains 64 steps, resumes to 128, evaluates one episode while recording a GIF, and
its checkpoint (loaded with ``weights_only=True``) shows that each normalisation option did what it
says: statistics that moved when it is on, none when it is off. A refused cell exits 2 with one
``advantage: error:`` line that names what was asked, and leaves no run directory.

Local cells cross ``normalize_obs`` and ``normalize_reward`` (one on, the other off, both ways);
Ray cells turn both on in one run (each Ray run costs seconds of worker start-up), so each option
is still checked on every Ray cell. The envs are in ``matrix_envs.py``.

Ray cells are a covering set, not the full cross (each starts four worker processes, ~7 s): A3C,
whose workers compute gradients and which has no local cells, on every space; PG, A2C and PPO share
one sampling worker (the algorithm runs on the learner, as in their local cells), so each of them
runs on two spaces, chosen so that every space runs with both an MLP and an LSTM policy. IMPALA
and APPO (Ray only, like A3C) share the actors' trajectory task and the V-trace learner: each runs
both policies once, the four cells covering the four spaces.
UNREAL (LSTM only) runs on the image space, locally and on Ray; it refuses the other spaces (no
image to replay, or actions that are not discrete) in one line, as it refuses the MLP policy.
"""

from __future__ import annotations

from pathlib import Path

import matrix_envs
import pytest
import torch

from advantage.cli import main

ALGOS = ("pg", "a2c", "ppo", "a3c", "unreal", "impala", "appo")
POLICIES = ("mlp", "lstm")  # on image observations the feed-forward policy is the Nature CNN
SPACES = {
    "discrete": "MatrixDiscrete-v0",
    "multi-discrete": "MatrixMultiDiscrete-v0",
    "box": "MatrixBox-v0",
    "image": "MatrixImage-v0",
}
LOCAL_NORMS = {"obs-only": (True, False), "reward-only": (False, True)}
RAY_NORMS = {"obs+reward": (True, True)}
TINY = [
    "num_envs=2", "num_workers=2", "trainer.nsteps=16", "trainer.validate_freq=0", "trainer.tensorboard=false",
    "trainer.save_freq=0", "algorithm.device=cpu",
    # one torch thread: a CNN learner's default is every core, and its OpenMP threads spin ~50x
    # slower whenever another process holds a core (tests/training/test_loop_threads.py)
    "trainer.torch_threads=1",
]


def refusal(algo: str, policy: str, backend: str) -> str | None:
    """What the documentation says is unsupported, as a word the refusal must name; None: supported."""
    if algo in ("a3c", "impala", "appo") and backend == "local":
        return algo  # their workers are Ray actors
    if policy == "lstm" and algo in ("pg", "a3c"):
        return "lstm"
    if algo == "unreal" and policy == "mlp":
        return "lstm"  # UNREAL's LSTM reads the frames its auxiliary tasks replay
    return None


def refusal_on(algo: str, policy: str, backend: str, space: str) -> str | None:
    """:func:`refusal`, and what the space rules out: UNREAL learns from images (pixel control,
    reward prediction) with a Q per discrete action."""
    refused = refusal(algo, policy, backend)
    if refused is None and algo == "unreal" and space != "image":
        return "discrete" if space in ("multi-discrete", "box") else "image"
    return refused


# (algo, policy) -> the spaces it runs on Ray with; A3C runs on every space
RAY_SAMPLING_SPACES = {
    ("pg", "mlp"): ("discrete", "box"),
    ("ppo", "mlp"): ("image", "multi-discrete"),
    ("ppo", "lstm"): ("box", "image"),
    ("a2c", "mlp"): ("box", "image"),
    ("a2c", "lstm"): ("discrete", "multi-discrete"),
    # actor-learner: each algorithm with both policies, the four spaces covered between them
    ("impala", "mlp"): ("image",),
    ("impala", "lstm"): ("box",),
    ("appo", "mlp"): ("multi-discrete",),
    ("appo", "lstm"): ("discrete",),
    ("unreal", "lstm"): ("image",),
}


def runs_on_ray(algo: str, policy: str, space: str) -> bool:
    """Whether the Ray cell is in the covering set (refused cells are all kept: they cost nothing)."""
    if algo == "a3c" or refusal(algo, policy, "ray") is not None:
        return True
    if algo == "unreal" and space != "image":
        return False  # refused the same way as locally
    return space in RAY_SAMPLING_SPACES[(algo, policy)]


CELLS = [
    pytest.param(algo, policy, backend, space, norms, id=f"{algo}-{policy}-{backend}-{space}-{name}")
    for backend, norm_set in (("local", LOCAL_NORMS), ("ray", RAY_NORMS))
    for algo in ALGOS
    for policy in POLICIES
    for space in SPACES
    for name, norms in norm_set.items()
    if backend == "local" or runs_on_ray(algo, policy, space)
]


def _train_args(algo: str, policy: str, backend: str, space: str, norms: tuple[bool, bool], run: Path) -> list[str]:
    normalize_obs, normalize_reward = norms
    sets = [
        *TINY, f"model.policy='{policy}'", f"model.normalize_obs={str(normalize_obs).lower()}",
        f"model.normalize_reward={str(normalize_reward).lower()}", f"distributed='{backend}'",
    ]
    return [
        "train", "--algo", algo, "--env", f"matrix_envs:{SPACES[space]}", "--total-timesteps", "64",
        "--run-dir", str(run), "--no-progress", "--seed", "3", *[a for s in sets for a in ("--set", s)],
    ]


def _check_normalisation(model_state: dict[str, torch.Tensor], norms: tuple[bool, bool]) -> None:
    for option, prefix, on in (("normalize_obs", "obs_normalizer", norms[0]), ("normalize_reward", "reward_scaler", norms[1])):
        count = model_state.get(f"{prefix}.rms.count")
        if on:
            assert count is not None, f"{option}=true but the model has no {prefix}"
            assert count.item() > 10, f"{option}=true but its statistics never moved (count {count.item()})"
        else:
            assert count is None, f"{option}=false but the model has a {prefix}"


@pytest.mark.parametrize("algo, policy, backend, space, norms", CELLS)
def test_combination(algo, policy, backend, space, norms, tmp_path, capsys, request):
    if backend == "ray":
        request.getfixturevalue("ray_instance")
    run = tmp_path / "run"
    code = main(_train_args(algo, policy, backend, space, norms, run))
    err = capsys.readouterr().err
    refused_word = refusal_on(algo, policy, backend, space)
    if refused_word is not None:
        errors = [line for line in err.splitlines() if line.startswith("advantage: error:")]
        assert code == 2 and len(errors) == 1, err
        assert refused_word in errors[0] and "Traceback" not in err, errors[0]
        assert not run.exists(), "a refused combination left a run directory"
        return
    assert code == 0, err[-3000:]
    assert main(["train", "--resume", str(run), "--total-timesteps", "128", "--no-progress"]) == 0, capsys.readouterr().err
    gif = tmp_path / "episode.gif"
    assert main(["eval", str(run), "--episodes", "1", "--video", str(gif)]) == 0, capsys.readouterr().err
    assert gif.stat().st_size > 0
    final = max((run / "checkpoints").glob("step_*.pt"))
    payload = torch.load(final, weights_only=True)
    assert payload["env_steps"] >= 128
    assert payload["config"]["model"]["policy"] == policy
    _check_normalisation(payload["model"], norms)


def test_the_matrix_envs_cover_every_action_space():
    assert set(matrix_envs.ACTION_SPACES) == {"discrete", "multi-discrete", "box"}


def test_the_ray_cells_cover_every_space_with_both_policies_and_every_sampling_algorithm():
    ray_cells = [p.values[:4] for p in CELLS if p.values[2] == "ray" and refusal_on(*p.values[:4]) is None]
    for space in SPACES:
        assert {policy for algo, policy, _, s in ray_cells if s == space and algo != "a3c"} == set(POLICIES), space
        assert ("a3c", "mlp", "ray", space) in ray_cells
    assert {algo for algo, *_ in ray_cells} == set(ALGOS)
