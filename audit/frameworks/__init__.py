"""Training frameworks: how each framework's checkpoints, logs, configs and schedule are read, and how its steps are replayed."""
