"""The specification's A2C family member for UNREAL, built the way ``ActorCritic_LSTM`` is.

    ActorCritic_UNREAL(model, input_size, action_size, cell_size, config, **model_args)

``model(input_size, **model_args)`` is the body network (anything with ``dense_size``, such as
advantage's :class:`~advantage.models.NatureCNN`), followed by an LSTM of ``cell_size`` cells and
the softmax policy and value heads. It *is* advantage's
:class:`~advantage.models.recurrent.ActorCriticLSTM` with that body as its encoder, so it acts,
evaluates and checkpoints through the one policy interface; ``config`` (an ``UNREALConfig``) is
what :class:`~advantage.training.unreal.UNREALTrainer` trains it with (A2C's loss plus the
auxiliary tasks, whose heads are built beside it by the algorithm).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from advantage.models.actor_critic import ModelConfig
from advantage.models.lstm import lstm_layer
from advantage.models.recurrent import ActorCriticLSTM
from advantage.models.spec_args import device_of as _device
from advantage.models.spec_args import input_shape as _shape


class ActorCritic_UNREAL(ActorCriticLSTM):  # noqa: N801 — the specification's naming
    """UNREAL's CNN-LSTM actor-critic from a body network (see the module docstring)."""

    def __init__(self, model: Any, input_size: Any, action_size: int, cell_size: int, config: Any, **model_args: Any) -> None:
        shape = _shape(input_size)
        space = (spaces.Box(0, 255, shape, np.uint8) if len(shape) == 3
                 else spaces.Box(-np.inf, np.inf, shape, np.float32))
        super().__init__(space, spaces.Discrete(int(action_size)), ModelConfig(policy="lstm", cell_size=int(cell_size)))
        self.input_size, self.action_size = shape, int(action_size)
        self.encoder = model(input_size, **model_args)
        self.encoder.out_features = getattr(self.encoder, "out_features", None) or self.encoder.dense_size
        self.lstm = lstm_layer(self.encoder.out_features, self.cell_size)
        self.unreal_config = config
        self.to(_device(getattr(config, "device", "cpu")))
