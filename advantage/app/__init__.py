"""The application layer: the ``PPO(...).learn()`` API and the defaults tables."""
