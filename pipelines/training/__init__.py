"""Training of embedding models: config, data, schedule, checkpoints, validation, trainer.

Entry points: :func:`pipelines.training.trainer.train` (library) and ``facerec train`` (CLI).
"""
