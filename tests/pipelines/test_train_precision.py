"""train.precision = "auto": the default and the presets' setting, resolved once when the config
is built (so the config saved beside a checkpoint says what ran), by facerec's one rule."""
from __future__ import annotations

import tomllib

import pytest

from facerec.runtime.precision import resolve_precision
from pipelines.train import config_path
from pipelines.training.config import config_from_dict, load_config


def test_default_is_auto_resolved_on_this_machine():
    cfg = config_from_dict({"train": {"device": "cpu"}})
    assert cfg.train.precision == resolve_precision("auto", "cpu").precision
    assert cfg.train.precision in ("fp32", "bf16")


@pytest.mark.parametrize("preset", ["orl_smoke", "celeba"])
def test_presets_say_auto(preset):
    path = config_path(preset)
    assert tomllib.loads(path.read_text())["train"]["precision"] == "auto"
    cfg = load_config(path, ["train.device=cpu"])
    assert cfg.train.precision == resolve_precision("auto", "cpu").precision


def test_explicit_precision_is_kept_and_unknown_refused():
    assert config_from_dict({"train": {"precision": "fp32"}}).train.precision == "fp32"
    assert config_from_dict({"train": {"precision": "bf16"}}).train.precision == "bf16"
    with pytest.raises(ValueError):
        config_from_dict({"train": {"precision": "int8"}})
