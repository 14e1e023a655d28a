"""Data: rollouts and batches, return estimators, observation layouts and state snapshots (plain tensors and numbers)."""
