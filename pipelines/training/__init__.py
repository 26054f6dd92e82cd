"""Training of embedding models: config, data, schedule, checkpoints, verification, trainer.

Entry points: :func:`pipelines.training.trainer.train` (library) and ``facerec train`` (CLI).
"""
