"""``facerec evaluate`` end to end, in-process, on a few real LFW pairs with a random-weight
MobileFaceNet saved to tmp. Scores are checked against ``FaceRecognizer.face`` (the library's
own single-image path), accuracies against a brute-force recomputation from the scores file."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facerec import Embedder, FaceRecognizer, MTCNNDetector, Preprocessing, align_face
from facerec.alignment import center_crop_landmarks
from facerec.metrics.binset import save_bin
from pipelines.cli import main
from pipelines.evaluate import embed_image_files, search_gallery
from pipelines.evaluate.pair_scores import _fit_bin_crop

N_PER = 3  # pairs per kind per fold in the small pairs file (2 folds → 12 pairs)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("evaluate")


@pytest.fixture(scope="module")
def weights(work: Path) -> Path:
    torch.manual_seed(0)
    path = work / "mfn.pt"
    Embedder.create("mobilefacenet").save(path)
    return path


@pytest.fixture(scope="module")
def recognizer(weights: Path) -> FaceRecognizer:
    return FaceRecognizer.load(weights)


@pytest.fixture(scope="module")
def small_pairs(work: Path, data_dir: Path) -> Path:
    """The first 3 matched and 3 mismatched pairs of folds 1 and 2 of the official file."""
    lines = (data_dir / "lfw_pairs.txt").read_text().splitlines()
    keep = [f"2\t{N_PER}"]
    for fold in range(2):
        base = 1 + fold * 600
        keep += lines[base:base + N_PER] + lines[base + 300:base + 300 + N_PER]
    path = work / "pairs.txt"
    path.write_text("\n".join(keep) + "\n")
    return path


@pytest.fixture(scope="module")
def lfw_run(work: Path, weights: Path, small_pairs: Path, lfw_dir: Path) -> dict:
    scores, plot = work / "scores.tsv", work / "roc.png"
    rc, out, err = _cli("evaluate", "lfw", "--images", lfw_dir, "--pairs", small_pairs, "--weights", weights,
                        "--cache", work / "cache", "--json", "--scores-out", scores, "--plot", plot)
    assert rc == 0, err
    return {"report": json.loads(out), "scores": scores, "plot": plot}


def _read_scores(path: Path) -> list[tuple[int, bool, float, str, str]]:
    rows = path.read_text().splitlines()
    assert rows[0].split("\t") == ["fold", "label", "score", "image_a", "image_b"]
    return [(int(f), l == "1", float(s), a, b) for f, l, s, a, b in (r.split("\t") for r in rows[1:])]


def test_lfw_report_structure(lfw_run: dict):
    d = lfw_run["report"]
    assert d["pairs"] == 12 and d["positives"] == 6 and d["negatives"] == 6
    assert d["accuracy"]["folds"] == [0, 1] and len(d["accuracy"]["accuracies"]) == 2
    assert d["images"]["total"] == 19 and d["images"]["fallback_center"] == len(d["images"]["fallback_files"])
    assert [p["target_far"] for p in d["tar_at_far"]] == [0.1, 0.01, 0.001]
    assert d["model"]["backbone"] == "mobilefacenet" and d["model"]["flip"] is False
    assert 0.0 <= d["roc_auc"] <= 1.0 and 0.0 <= d["eer"] <= 1.0
    assert lfw_run["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scores_file_recomputes_the_report(lfw_run: dict):
    rows = _read_scores(lfw_run["scores"])
    d = lfw_run["report"]
    assert len(rows) == 12
    f = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    s = np.array([r[2] for r in rows])
    for fold, thr, acc in zip(d["accuracy"]["folds"], d["accuracy"]["thresholds"], d["accuracy"]["accuracies"]):
        tr, te = f != fold, f == fold
        # the threshold maximises accuracy on the other fold (any tie-break), checked by brute force
        best = max(np.mean((s[tr] >= t) == y[tr]) for t in np.concatenate([s[tr], [np.inf]]))
        assert np.mean((s[tr] >= thr) == y[tr]) == pytest.approx(best)
        assert np.mean((s[te] >= thr) == y[te]) == pytest.approx(acc)
    assert d["accuracy"]["mean"] == pytest.approx(np.mean(d["accuracy"]["accuracies"]))
    wins = [1.0 if p > q else 0.5 if p == q else 0.0 for p in s[y] for q in s[~y]]
    assert d["roc_auc"] == pytest.approx(np.mean(wins), abs=1e-6)


def test_scores_equal_recognizer_face(lfw_run: dict, recognizer: FaceRecognizer, lfw_dir: Path):
    rows = _read_scores(lfw_run["scores"])
    for fold, same, score, a, b in (rows[0], rows[4]):
        ea = recognizer.face(lfw_dir / a, select="central", fallback_center=True).embedding
        eb = recognizer.face(lfw_dir / b, select="central", fallback_center=True).embedding
        assert score == pytest.approx(float(ea @ eb), abs=1e-5)


def test_cache_is_reused(lfw_run: dict, work: Path, weights: Path, small_pairs: Path, lfw_dir: Path,
                         recognizer: FaceRecognizer, monkeypatch):
    def refuse(self, image):
        raise AssertionError("detector called although every detection is cached")

    monkeypatch.setattr(MTCNNDetector, "detect", refuse)
    again = work / "again.tsv"
    rc, out, err = _cli("evaluate", "lfw", "--images", lfw_dir, "--pairs", small_pairs, "--weights", weights,
                        "--cache", work / "cache", "--json", "--scores-out", again)
    assert rc == 0, err
    assert [r[2] for r in _read_scores(again)] == [r[2] for r in _read_scores(lfw_run["scores"])]
    # flip TTA: new embeddings, same (cached) detections
    flipped = work / "flip.tsv"
    rc, out, err = _cli("evaluate", "lfw", "--images", lfw_dir, "--pairs", small_pairs, "--weights", weights,
                        "--cache", work / "cache", "--json", "--flip", "--scores-out", flipped)
    assert rc == 0, err
    assert json.loads(out)["model"]["flip"] is True
    monkeypatch.undo()
    _, _, score, a, b = _read_scores(flipped)[0]
    ea = recognizer.face(lfw_dir / a, select="central", fallback_center=True, flip=True).embedding
    eb = recognizer.face(lfw_dir / b, select="central", fallback_center=True, flip=True).embedding
    assert score == pytest.approx(float(ea @ eb), abs=1e-5)
    assert score != pytest.approx(_read_scores(lfw_run["scores"])[0][2], abs=1e-6)


def test_csv_fallback_is_counted(work: Path, weights: Path, lfw_dir: Path, recognizer: FaceRecognizer):
    blank = work / "blank.png"
    Image.fromarray(np.full((250, 250, 3), 128, np.uint8)).save(blank)
    a, b, c = (lfw_dir / "Akhmed_Zakayev" / f"Akhmed_Zakayev_000{i}.jpg" for i in (1, 2, 3))
    d = lfw_dir / "Dean_Barker" / "Dean_Barker_0001.jpg"
    csv = work / "pairs.csv"
    csv.write_text(f"path_a,path_b,same\n{a},{b},1\n{a},{d},0\n{blank},{c},0\n{b},{c},1\n")
    rc, out, err = _cli("evaluate", "csv", csv, "--images", work, "--n-folds", "2", "--weights", weights,
                        "--no-cache", "--json", "--scores-out", work / "csv.tsv")
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["images"]["fallback_center"] == 1 and rep["images"]["fallback_files"] == ["blank.png"]
    assert rep["accuracy"]["folds"] == [0, 1] and rep["pairs"] == 4
    rows = _read_scores(work / "csv.tsv")
    assert [r[0] for r in rows] == [0, 1, 0, 1]
    fb = recognizer.face(blank, select="central", fallback_center=True)
    assert fb.detection.score == 0.0  # really the fallback
    ref = float(fb.embedding @ recognizer.face(c, select="central", fallback_center=True).embedding)
    assert rows[2][2] == pytest.approx(ref, abs=1e-5)


def test_bin_cli_matches_direct_embedding(work: Path, weights: Path, lfw_dir: Path):
    files = sorted(lfw_dir.glob("Ab*/*_0001.jpg"))[:8]
    jpegs = []
    for f in files:  # 112×112 ArcFace-template crops, as a .bin holds
        rgb = np.asarray(Image.open(f).convert("RGB"))
        crop = align_face(rgb, center_crop_landmarks(250, 250), "arcface_112")
        buf = io.BytesIO()
        Image.fromarray(crop).save(buf, format="JPEG", quality=95)
        jpegs.append(buf.getvalue())
    issame = [True, False, True, False]
    save_bin(work / "mini.bin", jpegs, issame)
    rc, out, err = _cli("evaluate", "bin", work / "mini.bin", "--weights", weights, "--n-folds", "2", "--no-cache",
                        "--json", "--scores-out", work / "bin.tsv")
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["pairs"] == 4 and rep["accuracy"]["folds"] == [0, 1]
    decoded = np.stack([np.asarray(Image.open(io.BytesIO(j)).convert("RGB")) for j in jpegs])
    emb = Embedder.load(weights).embed(decoded)
    ref = np.sum(emb[0::2] * emb[1::2], axis=1)
    rows = _read_scores(work / "bin.tsv")
    assert [r[0] for r in rows] == [0, 0, 1, 1] and [r[1] for r in rows] == issame
    np.testing.assert_allclose([r[2] for r in rows], ref, atol=1e-5)


def test_bin_crop_for_the_sphereface_template(aaron: Path):
    rgb = np.asarray(Image.open(aaron).convert("RGB"))
    lm = center_crop_landmarks(250, 250)
    arc = align_face(rgb, lm, "arcface_112")
    sphere = align_face(rgb, lm, "sphereface_112x96")
    cut = _fit_bin_crop(arc, Preprocessing(template="sphereface_112x96").template)
    assert cut.shape == sphere.shape == (112, 96, 3)
    assert np.abs(cut.astype(int) - sphere.astype(int)).max() <= 1
    assert _fit_bin_crop(arc, "arcface_112") is arc
    with pytest.raises(ValueError, match="does not fit"):
        _fit_bin_crop(arc[:100], "arcface_112")


def test_lfw_ident_on_a_mini_tree(lfw_run: dict, work: Path, weights: Path, lfw_dir: Path,
                                  recognizer: FaceRecognizer):
    # Images of the small pairs file, so their detections and embeddings are cached already.
    root = work / "mini_lfw"
    people = {"Abel_Pacheco": (1, 4), "Akhmed_Zakayev": (1, 2, 3), "Abdullah_Gul": (1, 6, 8),
              "Dean_Barker": (1,), "Giancarlo_Fisichella": (1,), "Mikhail_Gorbachev": (1,)}
    paths = {}
    for name, nums in people.items():
        (root / name).mkdir(parents=True)
        paths[name] = [root / name / f"{name}_{i:04d}.jpg" for i in nums]
        for p in paths[name]:
            p.symlink_to(lfw_dir / name / p.name)
    rc, out, err = _cli("evaluate", "lfw-ident", "--images", root, "--weights", weights, "--cache", work / "cache",
                        "--json")
    assert rc == 0, err
    rep = json.loads(out)
    assert (rep["enrolled"], rep["known_probes"], rep["unknown_probes"]) == (3, 5, 3)
    assert rep["images"]["total"] == 11 and set(rep["rank"]) == {"1"}  # rank 5 needs >= 5 enrolled
    # independent of faiss and of the metric code: numpy argmax over the same embeddings
    everything = [p for ps in paths.values() for p in ps]
    emb = dict(zip(everything, embed_image_files(recognizer, everything, cache_dir=work / "cache").embeddings))
    enrolled = ["Abdullah_Gul", "Abel_Pacheco", "Akhmed_Zakayev"]  # sorted folder order
    g = np.stack([emb[paths[n][0]] for n in enrolled])
    probes = [(k, p) for k, n in enumerate(enrolled) for p in paths[n][1:]]
    sims = np.stack([emb[p] for _, p in probes]) @ g.T
    correct = sims.argmax(1) == np.array([k for k, _ in probes])
    assert rep["rank"]["1"] == pytest.approx(correct.mean())
    unknown = np.array([float((emb[paths[n][0]] @ g.T).max()) for n in ("Dean_Barker", "Giancarlo_Fisichella",
                                                                        "Mikhail_Gorbachev")])
    for p in rep["dir_at_far"]:  # 3 unknown probes: FAR 1 % and 0.1 % allow no false alarm
        assert p["far"] == 0.0
        assert p["dir"] == pytest.approx(np.mean(correct & (sims.max(1) > unknown.max() + 1e-6)))


def test_search_gallery_matches_exact_numpy():
    # normalised rows: the gallery stores unit vectors (cosine = inner product)
    rng = np.random.default_rng(0)
    g = rng.normal(size=(200, 64)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    q = rng.normal(size=(50, 64)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    scores, idx = search_gallery(g, q, 5)
    ref = q @ g.T
    np.testing.assert_array_equal(idx, np.argsort(-ref, axis=1)[:, :5])
    np.testing.assert_allclose(scores, np.take_along_axis(ref, idx, 1), rtol=1e-4, atol=1e-4)


def test_cli_errors(work: Path, weights: Path, lfw_dir: Path):
    bad = work / "bad_pairs.txt"
    bad.write_text("1 1\nA 1\nA 1 B 2\n")
    rc, out, err = _cli("evaluate", "lfw", "--images", lfw_dir, "--pairs", bad, "--weights", weights)
    assert rc == 2 and "bad_pairs.txt:2: expected a matched pair" in err and len(err.strip().splitlines()) == 1
    rc, out, err = _cli("evaluate", "bin", work / "nope.bin", "--weights", weights)
    assert rc == 2 and "nope.bin" in err and "Traceback" not in err
    rc, out, err = _cli("evaluate", "lfw-ident", "--images", lfw_dir / "Aaron_Eckhart", "--weights", work / "missing.pt")
    assert rc == 2 and "error" in err
