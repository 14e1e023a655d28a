"""Training: the collector, the loop, checkpoints, metrics, evaluation, video and Ray."""
