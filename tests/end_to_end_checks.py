"""The end-to-end check the model options' tests make (cnn_precision, lstm_first) on a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from advantage.cli import main


def resume_evaluate_export(run: Path, tmp_path: Path, capsys) -> tuple[str, dict[str, Any]]:
    """Resume ``run`` to 128 steps, evaluate one episode with a video, export to ONNX (the export
    checks its actions against torch's). Returns what the resume printed and its last checkpoint,
    loaded with ``weights_only=True``."""
    assert main(["train", "--resume", str(run), "--total-timesteps", "128", "--no-progress"]) == 0
    resumed = capsys.readouterr().out
    payload = torch.load(max((run / "checkpoints").glob("step_*.pt")), weights_only=True)
    assert payload["env_steps"] >= 128
    gif = tmp_path / "episode.gif"
    assert main(["eval", str(run), "--episodes", "1", "--video", str(gif)]) == 0 and gif.stat().st_size > 0
    assert main(["export", str(run), "-o", str(tmp_path / "policy.onnx"), "--format", "onnx"]) == 0
    assert "observations give torch's actions" in capsys.readouterr().out
    return resumed, payload
