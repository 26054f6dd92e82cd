"""Config parsing, schedule, augmentation, batching and split: each against a formula or
reference written separately here (or PIL as the grey-conversion oracle)."""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facerec import Embedder
from facerec.runtime.preprocessing import Preprocessing
from pipelines.train import CONFIG_DIR
from pipelines.training.augment import augment, downscale, sample_rng, to_grayscale
from pipelines.training.config import (AugmentConfig, DataConfig, config_from_dict, config_to_dict, expand_paths,
                                       load_config, parse_override, to_toml)
from pipelines.training.data import Collate, EpochBatches, FaceDataset, scan_identities, split_identities
from pipelines.training.schedule import WarmupDecay, make_scheduler
from pipelines.training.validation import generated_pairs

from train_helpers import tiny_config, write_synthetic_crops


def test_unknown_keys_and_bad_types_are_rejected():
    with pytest.raises(ValueError, match="unknown config key.*epoch"):
        config_from_dict({"train": {"epoch": 3}})
    with pytest.raises(ValueError, match="unknown config key.*trian"):
        config_from_dict({"trian": {}})
    with pytest.raises(ValueError, match="train.batch_size: expected an integer"):
        config_from_dict({"train": {"batch_size": "64"}})
    with pytest.raises(ValueError, match="optim.name"):
        config_from_dict({"optim": {"name": "rmsprop"}})


def test_overrides_are_toml_values():
    assert parse_override("train.epochs=3") == (["train", "epochs"], 3)
    assert parse_override("optim.lr=1e-3") == (["optim", "lr"], 1e-3)
    assert parse_override("train.channels_last=false") == (["train", "channels_last"], False)
    assert parse_override("data.root=/some/path") == (["data", "root"], "/some/path")
    assert parse_override('optim.betas=[0.9, 0.99]') == (["optim", "betas"], [0.9, 0.99])


@pytest.mark.parametrize("preset", ["orl_smoke", "celeba"])
def test_presets_load_and_resolved_config_round_trips(preset, tmp_path):
    cfg = load_config(CONFIG_DIR / f"{preset}.toml", ["data.root=/x", "loss.params.margin=0.3", "train.epochs=2"])
    assert cfg.data.root == "/x" and cfg.loss.params["margin"] == 0.3 and cfg.train.epochs == 2
    text = to_toml(config_to_dict(cfg))
    assert config_from_dict(tomllib.loads(text)) == cfg


def test_path_variables_expand_like_the_shell(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("A", "short")
    monkeypatch.setenv("A_B", "long")
    monkeypatch.delenv("FACEREC_NOT_SET", raising=False)
    d = {"data": {"root": "$FACEREC_DATA_DIR/lfw"}, "eval": {"pairs_file": "${A_B}/$A_B/$A/x", "pairs_root": "$FACEREC_NOT_SET/y",
                                                              "cache_dir": "~/c$$"}}
    out = expand_paths(d)
    assert out["data"]["root"] == f"{tmp_path}/lfw"
    assert out["eval"]["pairs_file"] == "long/long/short/x"  # whole names, never a prefix
    assert out["eval"]["pairs_root"] == "$FACEREC_NOT_SET/y"  # unknown: left as written
    assert out["eval"]["cache_dir"] == str(Path.home() / "c$")
    assert d["data"]["root"] == "$FACEREC_DATA_DIR/lfw"  # the input is not modified


def test_schedule_matches_closed_form():
    s = WarmupDecay(total=100, warmup=10, decay="cosine", min_ratio=0.1)
    assert s(0) == pytest.approx(0.1) and s(9) == pytest.approx(1.0)
    assert s(10) == pytest.approx(1.0)
    assert s(55) == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the decay: cos(π/2) = 0
    assert s(100) == pytest.approx(0.1)
    p = WarmupDecay(total=50, warmup=0, decay="poly", power=2.0)
    assert p(25) == pytest.approx(0.25) and p(50) == pytest.approx(0.0)
    # LambdaLR applies it per step: lr after k scheduler steps is base · s(k).
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    sched = make_scheduler(opt, s)
    for k in range(1, 30):
        opt.step()
        sched.step()
        want = (k + 1) / 10 if k < 10 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (k - 10) / 90))
        assert opt.param_groups[0]["lr"] == pytest.approx(0.2 * want)


def test_augmentations_against_references():
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    pil_grey = np.asarray(Image.fromarray(crop).convert("L")).astype(int)  # ITU-R 601-2 luma oracle
    assert np.abs(to_grayscale(crop)[:, :, 0].astype(int) - pil_grey).max() <= 1
    assert np.array_equal(augment(crop, AugmentConfig(flip=1.0, grayscale=0, downscale=0), sample_rng(0, 0, 0)),
                          crop[:, ::-1])
    assert np.array_equal(augment(crop, AugmentConfig(flip=0, grayscale=0, downscale=0), sample_rng(0, 0, 0)), crop)
    half = downscale(crop, 0.5)
    assert half.shape == crop.shape and np.abs(half.astype(int) - crop).mean() > 10  # detail is lost
    flat = np.full((112, 112, 3), 77, np.uint8)
    assert np.array_equal(downscale(flat, 0.3), flat)  # but a flat image is unchanged
    cfg = AugmentConfig(0.5, 0.5, 0.5)
    a = augment(crop, cfg, sample_rng(3, 2, 17))
    assert np.array_equal(a, augment(crop, cfg, sample_rng(3, 2, 17)))  # a pure function of (seed, epoch, index)


@pytest.mark.parametrize("world", [1, 2, 4])
def test_epoch_batches_partition_and_ddp_slices(world):
    n, b = 103, 8
    single = list(EpochBatches(n, b, seed=5, epoch=1))
    flat = [i for batch in single for i, _ in batch]
    assert len(single) == n // b and len(set(flat)) == len(flat) == (n // b) * b
    assert flat != [i for batch in EpochBatches(n, b, seed=5, epoch=2) for i, _ in batch]  # reshuffled per epoch
    ranks = [list(EpochBatches(n, b, seed=5, epoch=1, rank=r, world=world)) for r in range(world)]
    for k, batch in enumerate(single):
        assert [key for r in range(world) for key in ranks[r][k]] == batch
    assert list(EpochBatches(n, b, seed=5, epoch=1, start=4)) == single[4:]


def test_split_is_identity_disjoint_and_train_matches_inference_preprocessing(tmp_path):
    root = write_synthetic_crops(tmp_path, identities=6, per_identity=3)
    ids = scan_identities(root, 2)
    split = split_identities(ids, 2, seed=0)
    assert not {i.name for i in split.train} & {i.name for i in split.val}
    assert split == split_identities(ids, 2, seed=0) and len(split.val) == 2
    cfg = DataConfig(root=str(root))
    ds = FaceDataset(split.train, cfg, None)
    crop, label, index = ds[(0, 0)]
    assert np.array_equal(crop, np.asarray(Image.open(ds.files[0]).convert("RGB")))
    x, y, idx = Collate(Preprocessing())([ds[(i, 0)] for i in range(4)])
    # The tensor training feeds the network is what inference feeds it: same embeddings.
    from train_helpers import TinyNet
    torch.manual_seed(0)
    emb = Embedder(TinyNet(), "tiny_test_cnn", channels_last=False)
    want = emb.embed(np.stack([ds[(i, 0)][0] for i in range(4)]))
    got = torch.nn.functional.normalize(emb.model(x), dim=1).detach().numpy()
    assert np.allclose(got, want, atol=1e-6)
    assert y.tolist() == [int(ds.labels[i]) for i in range(4)] and idx.tolist() == [0, 1, 2, 3] and index == 0


def test_generated_pairs_are_labelled_by_identity():
    groups = [[Path(f"{k}_{i}") for i in range(4)] for k in range(5)]
    p = generated_pairs(groups, max_pairs=40, seed=0)
    names = [str(x) for x in p.images]
    same = [names[a].split("_")[0] == names[b].split("_")[0] for a, b in zip(p.left, p.right)]
    assert same == p.same.tolist() and p.same.sum() == 20 and (~p.same).sum() == 20
    assert len({(a, b) for a, b in zip(p.left, p.right)}) == 40 and (p.left != p.right).all()


def test_missing_data_root_is_a_clear_error(tmp_path):
    from pipelines.cli import main

    assert main(["train", "--config", "celeba", "--out", str(tmp_path)]) == 2
    with pytest.raises(ValueError, match="data.root is not set"):
        scan_identities("")


def test_cli_set_overrides_reach_the_run(tmp_path):
    from pipelines.cli import main

    root = write_synthetic_crops(tmp_path / "d", identities=5, per_identity=3)
    d = tiny_config(root, train={"epochs": 1, "batch_size": 6})
    cfg = tmp_path / "c.toml"
    cfg.write_text(to_toml(config_to_dict(config_from_dict(d))))
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "o"), "--set", "loss.name=cosface",
                 "--set", "loss.params={scale=10.0, margin=0.1}"]) == 0
    saved = tomllib.loads((tmp_path / "o" / "config.toml").read_text())
    assert saved["loss"] == {"name": "cosface", "params": {"scale": 10.0, "margin": 0.1}}


def test_checkpoint_metadata_carries_no_machine_paths():
    """What leaves the training machine (the shipped checkpoints and their ONNX exports)
    names data and teacher folders by their last component only."""
    import json as _json

    from facerec.runtime.embedder import Embedder
    from facerec.models import MODELS
    from facerec.runtime.onnx_runtime import METADATA_KEY, file_metadata
    from pipelines.training.config import PATH_KEYS, portable_paths

    d = {"data": {"root": "/home/someone/crops", "unlabeled": ["/x/y/u1", ""]}, "distill": {"teacher": "sface"},
         "model": {"init": "/runs/v1/last.pt"}}
    p = portable_paths(d)
    assert p["data"] == {"root": "<…>/crops", "unlabeled": ["<…>/u1", ""]}
    assert p["distill"]["teacher"] == "sface" and p["model"]["init"] == "<…>/last.pt"
    for spec in MODELS.values():
        if not spec.packaged:
            continue
        for meta in (Embedder.load(spec.torch_path()).metadata,
                     _json.loads(file_metadata(spec.onnx_path())[METADATA_KEY])):
            training = meta.get("training", {})
            for sec, key in PATH_KEYS:
                values = training.get(sec, {}).get(key) or []
                for v in values if isinstance(values, list) else [values]:
                    assert not str(v).startswith(("/", "~")), (spec.name, sec, key, v)
