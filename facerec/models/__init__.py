"""Named models: the registry (:mod:`.registry`) and their installation (:mod:`.install`)."""
from __future__ import annotations

from facerec.models.registry import (DEFAULT_MODEL, MODEL_ENV, MODELS, Artifact, InputSpec, ModelNotInstalled, ModelSpec,
                       choose_model, default_model_name, get_model, model_by_fingerprint, model_file, model_name_of,
                       thresholds_of)

__all__ = ["Artifact", "DEFAULT_MODEL", "InputSpec", "MODELS", "MODEL_ENV", "ModelNotInstalled", "ModelSpec",
           "choose_model", "default_model_name", "get_model", "model_by_fingerprint", "model_file", "model_name_of",
           "thresholds_of"]
