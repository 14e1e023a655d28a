"""Errors that stop a training run for a reason outside the user's command line."""


class EnvironmentWorkerError(RuntimeError):
    """A subprocess environment worker died."""
