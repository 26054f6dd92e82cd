"""Distillation in `facerec train`: the teacher cache, the ONNX teacher runner, near-duplicate
exclusion, and a real ORL run where the student moves towards a fixed teacher."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scipy.stats import spearmanr

from facerec import Embedder
from pipelines.cli import main
from pipelines.training.config import DistillConfig, load_config
from pipelines.training.data import load_crop, scan_identities, split_identities
from pipelines.training.distillation import max_cosine
from pipelines.training.run_log import read_metrics
from pipelines.training.teacher import load_teacher
from pipelines.training import teacher_cache
from pipelines.training.teacher_cache import open_teacher_cache, teacher_embeddings
from pipelines.training.trainer import resolved_config_from_run

SFACE_SHA256 = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"


class _Counting:
    """Wraps a teacher and counts the crops it embeds."""

    def __init__(self, teacher) -> None:
        self.teacher, self.sha256, self.dim, self.calls = teacher, teacher.sha256, teacher.dim, 0
        self.cache_settings, self.batches = teacher.cache_settings, []

    def embed(self, crops: np.ndarray) -> np.ndarray:
        self.calls += len(crops)
        self.batches.append(len(crops))
        return self.teacher.embed(crops)


def _tiny_teacher(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    Embedder.create("mobilefacenet", embedding_size=32).save(path)
    return path


def test_cache_reuses_embeddings_and_is_invalidated_when_the_teacher_file_changes(tmp_path):
    crops = np.random.default_rng(0).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    path = _tiny_teacher(tmp_path / "teacher.pt", seed=0)
    cfg = DistillConfig(teacher=str(path), precision="fp32")
    t1 = _Counting(load_teacher(cfg))
    first = teacher_embeddings(t1, 5, lambda i: crops[i], tmp_path / "cache", progress=False)
    again = teacher_embeddings(t1, 5, lambda i: crops[i], tmp_path / "cache", progress=False)
    assert t1.calls == 5 and np.array_equal(first, again)  # second call: all from the cache
    direct = Embedder.load(path).embed(crops)  # the teacher's own embeddings are the oracle
    assert np.allclose(first, direct, atol=1e-5)
    # A new crop is computed alone; the cache is keyed by content, not position.
    more = np.concatenate([crops[::-1], crops[:1] // 2])
    got = teacher_embeddings(t1, 6, lambda i: more[i], tmp_path / "cache", progress=False)
    assert t1.calls == 6 and np.array_equal(got[:5], first[::-1])
    # Same path, new weights: a different file checksum, so nothing is reused.
    _tiny_teacher(path, seed=1)
    t2 = _Counting(load_teacher(cfg))
    assert t2.sha256 != t1.sha256
    changed = teacher_embeddings(t2, 5, lambda i: crops[i], tmp_path / "cache", progress=False)
    assert t2.calls == 5 and not np.allclose(changed, first, atol=1e-3)
    assert np.allclose(changed, Embedder.load(path).embed(crops), atol=1e-5)
    assert len(open_teacher_cache(tmp_path / "cache", t1)) == 6


def test_cache_misses_when_the_teachers_input_spec_changes(tmp_path, installed_model):
    """Same ONNX file, same crops: another scale/mean/std or colour order is another teacher
    (as are another runtime and precision: ``OnnxTeacher.cache_settings``), so nothing is
    reused (the old cache, keyed by the file alone, returned stale rows)."""
    pytest.importorskip("onnx")
    path = installed_model("sface").upstream_path()
    crops = np.random.default_rng(1).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    base = DistillConfig(teacher=str(path), scale=1.0, precision="fp32", runtime="onnxruntime")
    t = _Counting(load_teacher(base))
    ref = teacher_embeddings(t, 2, lambda i: crops[i], tmp_path, progress=False)
    assert np.array_equal(teacher_embeddings(t, 2, lambda i: crops[i], tmp_path, progress=False), ref)
    assert t.calls == 2  # the second call: from the cache
    for change in ({"scale": 1.0 / 255.0, "mean": (0.5,) * 3}, {"color": "bgr"}):
        t = _Counting(load_teacher(DistillConfig(**{**base.__dict__, **change})))
        got = teacher_embeddings(t, 2, lambda i: crops[i], tmp_path, progress=False)
        assert t.calls == 2, change
        assert np.allclose(got, t.teacher.embed(crops), atol=1e-6), change  # its own output, not the cached one


def test_cache_decodes_each_crop_once_and_embeds_duplicates_once(tmp_path, monkeypatch):
    """One pass over the crops, in parts of PART_SIZE (2 here, so several parts and a partial
    last one); the oracle is the teacher's own embeddings of the same crops."""
    monkeypatch.setattr(teacher_cache, "PART_SIZE", 2)
    crops = np.random.default_rng(2).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    listed = np.concatenate([crops, crops[1:2]])  # crop 1 listed twice
    path = _tiny_teacher(tmp_path / "teacher.pt", seed=0)
    t = _Counting(load_teacher(DistillConfig(teacher=str(path), precision="fp32")))
    decoded = []
    got = teacher_embeddings(t, 6, lambda i: decoded.append(i) or listed[i], tmp_path / "cache", progress=False)
    assert decoded == list(range(6)) and t.calls == 5
    assert np.allclose(got, Embedder.load(path).embed(listed), atol=1e-5)
    assert t.batches == [2, 2, 1]  # parts of 2, 2 and 1 crops, each written as it is embedded


def test_max_cosine_is_exact_search():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(50, 8)).astype(np.float32)
    r = rng.normal(size=(30, 8)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    best, arg = max_cosine(q, r, chunk=7)
    brute = np.array([[float(a @ b) for b in r] for a in q])
    assert np.array_equal(arg, brute.argmax(1)) and np.allclose(best, brute.max(1), atol=1e-6)


def test_onnx_teacher_torch_runner_matches_onnxruntime_and_opencv(lfw_dir, installed_model):
    """SFace's upstream file through facerec's ONNX teacher (torch runner and onnxruntime) and
    as the named model ``sface``, against OpenCV's own FaceRecognizerSF.feature, on real LFW faces
    aligned by facerec."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("onnx")
    spec = installed_model("sface")
    path = spec.upstream_path()
    from facerec import FaceRecognizer

    rec = FaceRecognizer.load()
    crops = np.stack([rec.face(p).crop for p in sorted((lfw_dir / "Colin_Powell").glob("*.jpg"))[:6]])
    cfg = DistillConfig(teacher=str(path), scale=1.0, precision="fp32")
    ref = np.concatenate([cv2.FaceRecognizerSF.create(str(path), "").feature(c[:, :, ::-1].copy()) for c in crops])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    for runtime in ("torch", "onnxruntime"):
        got = load_teacher(DistillConfig(**{**cfg.__dict__, "runtime": runtime})).embed(crops)
        assert np.abs(got - ref).max() < 1e-4, runtime
    named = load_teacher(DistillConfig(teacher="sface", precision="fp32")).embed(crops)  # the registry's spec
    assert np.abs(named - ref).max() < 1e-4
    same = ref[0] @ ref[1:].T  # one person: a strong teacher scores its own pairs high
    assert same.min() > 0.3


@pytest.mark.slow
def test_orl_student_distilled_from_a_fixed_teacher_moves_towards_its_pair_scores(orl_dir, tmp_path, capsys):
    """Distillation only (no labels used): the shipped model is the fixed teacher, a random
    MobileFaceNet the student; on held-out people, the student's pair scores must end much
    closer to the teacher's than they started, measured as the rank correlation of the two
    models' scores over all held-out pairs (scipy's Spearman). Rank, not absolute difference:
    after 60 steps the student's BatchNorm running statistics still lag its weights, which
    compresses its eval-mode scores towards 1 without changing their order (measured here:
    Spearman 0.27 at the start, 0.53 after; mean absolute difference 0.50 → 0.71)."""
    from facerec.models import get_model

    teacher = get_model("facerec-mbf-v2").torch_path()
    out = tmp_path / "run"
    sets = ["--set", f"data.root={orl_dir}", "--set", "data.val_identities=10", "--set", "train.epochs=6",
            "--set", "train.progress=false", "--set", "train.precision=fp32", "--set", "eval.flip=false",
            "--set", f"distill.teacher={teacher}", "--set", "distill.margin_weight=0.0",
            "--set", "distill.similarity_weight=1.0", "--set", f"distill.cache_dir={tmp_path / 'cache'}",
            "--set", "optim.lr=0.02"]
    assert main(["train", "--config", "orl_smoke", "--out", str(out), *sets]) == 0
    json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cfg = resolved_config_from_run(out)
    split = split_identities(scan_identities(cfg.data.root, 2), cfg.data.val_identities, cfg.train.seed)
    crops = np.stack([load_crop(f, cfg.data) for ident in split.val for f in ident.files])
    iu = np.triu_indices(len(crops), 1)

    def pair_scores(e: np.ndarray) -> np.ndarray:
        return (e @ e.T)[iu]

    target = pair_scores(Embedder.load(teacher).embed(crops))
    from pipelines.training.trainer import build_backbone

    torch.manual_seed(cfg.train.seed)  # the run's initial weights (the trainer seeds, then builds)
    init = Embedder(build_backbone(cfg)[0], cfg.model.backbone)
    before = spearmanr(pair_scores(init.embed(crops)), target)[0]
    after = spearmanr(pair_scores(Embedder.load(out / "last_embedder.pt").embed(crops)), target)[0]
    assert after > before + 0.15, (before, after)
    losses = [float(r["distill_loss"]) for r in read_metrics(out / "metrics.csv") if r["kind"] == "train"]
    assert np.mean(losses[-2:]) < 0.85 * np.mean(losses[:2]), losses


def test_distill_config_errors():
    with pytest.raises(ValueError, match="need a distill.teacher"):
        load_config(None, ["data.unlabeled=['x']"])
    with pytest.raises(ValueError, match="both 0"):
        load_config(None, ["distill.teacher='t.onnx'", "distill.cosine_weight=0.0"])
    with pytest.raises(ValueError, match="Partial FC"):
        load_config(None, ["distill.teacher='t.onnx'", "partial_fc.enabled=true"])


def test_training_with_unlabeled_data_drops_test_set_near_duplicates_and_resumes(tmp_path):
    """A tiny run: labelled synthetic identities plus an unlabeled folder; two training crops are
    copies of 'test set' crops and must be dropped (the report names them); the distillation
    projection is saved and restored by --resume."""
    import shutil

    from train_helpers import tiny_config, write_synthetic_crops

    from pipelines.training.config import config_from_dict
    from pipelines.training.trainer import Trainer

    root = write_synthetic_crops(tmp_path / "train", identities=6, per_identity=4)
    unlabeled = write_synthetic_crops(tmp_path / "unlabeled", identities=2, per_identity=4, seed=5)
    test = write_synthetic_crops(tmp_path / "test", identities=3, per_identity=2, seed=9)
    shutil.copy(test / "id000" / "00.png", root / "id000" / "99.png")  # a test image leaked into training
    shutil.copy(test / "id001" / "01.png", unlabeled / "id000" / "99.png")
    teacher = _tiny_teacher(tmp_path / "teacher.pt", seed=3)
    d = tiny_config(root, distill={"teacher": str(teacher), "precision": "fp32", "cache_dir": str(tmp_path / "c"),
                                   "exclude_near": str(test), "exclude_threshold": 0.9999, "similarity_weight": 1.0},
                    train={"epochs": 2, "max_steps": 3})
    d["data"]["unlabeled"] = [str(unlabeled)]
    cfg = config_from_dict(d)
    tr = Trainer(cfg, tmp_path / "run")
    report = json.loads((tmp_path / "run" / "near_duplicates.json").read_text())
    assert report["dropped"] == 2 and report["reference_crops"] == 6
    assert sorted(Path(p["train"]).name for p in report["pairs"]) == ["99.png", "99.png"]
    assert not any(f.name == "99.png" for f in tr.train_ds.files)
    n_unlabeled = int((tr.train_ds.labels == -1).sum())
    assert n_unlabeled == 8 and len(tr.train_ds) == len(tr.teacher_emb) == 4 * 4 + 8  # 4 train ids (2 held out)
    res = tr.fit()
    assert res.status == "max_steps"
    proj = tr.distill.projection.weight.detach().clone()
    resumed = Trainer(config_from_dict({**d, "train": {**d["train"], "max_steps": 0}}), tmp_path / "run", resume=True)
    assert torch.equal(resumed.distill.projection.weight, proj) and resumed.step == 3
