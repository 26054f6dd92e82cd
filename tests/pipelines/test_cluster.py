"""``facerec cluster`` and ``facerec enroll --cluster`` in-process on real LFW photos with the
default model.

The library: 7 people (5 × 3 photos, one with 3 more added later, one with a single photo) and
a two-face photo made by pasting two LFW photos side by side, so every face of a photo must be
found (21 faces in 20 photos). Oracles: the folder names (the truth, scored with
:mod:`facerec.metrics.cluster_metrics`) and scikit-learn's ``AgglomerativeClustering`` (average
linkage, cosine) on the same embeddings. The contact sheet is opened in a real headless
Chromium (selenium + Debian's chromium-driver; skips without them, fails when
``FACEREC_REQUIRE_BROWSER`` is set).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from facerec.metrics.cluster_metrics import cluster_scores
from pipelines import cli
from pipelines.cluster import CLUSTERS_JSON, EMBEDDINGS_NPY, cluster_photos, find_photos

# The photos of each person (LFW numbers). Each shows exactly one face to both detectors: the
# truth is the folder. (Al_Gore_0003, Ben_Affleck_0003 and Benazir_Bhutto_0004 also show a face
# cut by the frame that yunet finds and mtcnn misses, a person with no folder.)
PEOPLE = {"Al_Gore": (1, 2, 6), "Angela_Merkel": (1, 2, 3), "Ben_Affleck": (1, 2, 6), "Ashanti": (1, 2, 3),
          "Amelia_Vega": (1, 2, 3), "Benazir_Bhutto": (1, 2, 3), "Barbara_Walters": (1,)}
PAIR = ("Al_Gore", "Ashanti")  # photo 4 of each, pasted side by side into pair.jpg
LATER = "Amelia_Vega"  # photos 4 and 5 arrive later: 5 faces, then the biggest cluster


def run_cli(capsys, argv: list[str]) -> tuple[int, dict[str, Any], str]:
    rc = cli.main(argv)
    cap = capsys.readouterr()
    doc = json.loads(cap.out) if "--json" in argv and cap.out.strip() else {}
    return rc, doc, cap.err


@pytest.fixture(scope="module")
def library(tmp_path_factory, lfw_dir: Path) -> dict[str, Path]:
    """``photos/<person>/<file>`` (symlinks into LFW) + ``photos/pair.jpg``; ``later/`` holds
    the photos added for the second run."""
    root = tmp_path_factory.mktemp("library")
    photos, later = root / "photos", root / "later"
    for person, numbers in PEOPLE.items():
        (photos / person).mkdir(parents=True)
        for i in numbers:
            name = f"{person}_{i:04d}.jpg"
            (photos / person / name).symlink_to(lfw_dir / person / name)
    pair = Image.new("RGB", (500, 250))
    for x, person in zip((0, 250), PAIR):
        pair.paste(Image.open(lfw_dir / person / f"{person}_0004.jpg").convert("RGB"), (x, 0))
    pair.save(photos / "pair.jpg", quality=95)
    later.mkdir()
    for i in (4, 5):
        (later / f"{LATER}_{i:04d}.jpg").symlink_to(lfw_dir / LATER / f"{LATER}_{i:04d}.jpg")
    return {"root": root, "photos": photos, "later": later}


def truth_of(face: dict[str, Any]) -> str:
    """The person a face record shows: its folder, or for pair.jpg the side of the photo."""
    photo = Path(face["photo"])
    if photo.name == "pair.jpg":
        return PAIR[0] if (face["box"][0] + face["box"][2]) / 2 < 250 else PAIR[1]
    return photo.name.rsplit("_", 1)[0]


def faces_of(doc: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """(face record, cluster id) of every face, in embedding-row order (-1: unclustered)."""
    out = [(f, c["id"]) for c in doc["clusters"] for f in c["faces"]] + [(f, -1) for f in doc["unclustered"]]
    return sorted(out, key=lambda t: t[0]["row"])


@pytest.fixture(scope="module")
def first_run(installed_model, library, tmp_path_factory) -> dict[str, Any]:
    installed_model()
    out = tmp_path_factory.mktemp("clusters") / "out"
    rc = cli.main(["cluster", str(library["photos"]), "--out", str(out), "--json"])
    assert rc == 0
    return {"out": out, "doc": json.loads((out / CLUSTERS_JSON).read_text())}


@pytest.fixture(scope="module")
def recognizer(installed_model):
    installed_model()
    from facerec import FaceRecognizer

    return FaceRecognizer.load()


def test_clusters_match_truth_and_sklearn(first_run) -> None:
    from sklearn.cluster import AgglomerativeClustering

    doc, out = first_run["doc"], first_run["out"]
    faces = faces_of(doc)
    assert doc["photos"] == 20 and doc["faces"] == 21 == len(faces)  # pair.jpg: both faces
    assert [f["row"] for f, _ in faces] == list(range(21))
    assert doc["model"]["name"] == "sface" and doc["method"] == "average" and doc["unclustered"] == []
    truth = np.array([truth_of(f) for f, _ in faces])
    pred = np.array([c for _, c in faces])
    scores = cluster_scores(truth, pred)
    assert scores.pairwise_f1 == 1.0 and scores.bcubed_f1 == 1.0, scores
    # Biggest first: Al Gore and Ashanti (4 faces, one each in pair.jpg), then the 3s, then the single.
    sizes = [c["size"] for c in doc["clusters"]]
    assert sizes == sorted(sizes, reverse=True) == [4, 4, 3, 3, 3, 3, 1]
    assert [c["id"] for c in doc["clusters"]] == list(range(7))
    assert all(c["photos"] == c["size"] for c in doc["clusters"])

    # Oracle: exact average-linkage clustering (scikit-learn) of the same embeddings, cut at the
    # same threshold (merges while mean cosine ≥ threshold ⇔ cosine distance ≤ 1 − threshold).
    emb = np.load(out / EMBEDDINGS_NPY)
    assert emb.shape == (21, 128) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    oracle = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=1 - doc["threshold"]).fit_predict(emb)
    assert cluster_scores(oracle, pred).pairwise_f1 == 1.0

    # One aligned thumbnail per face, in faces/<id>/<n>.jpg.
    for c in doc["clusters"]:
        assert [f["thumbnail"] for f in c["faces"]] == [f"faces/{c['id']}/{n}.jpg" for n in range(c["size"])]
    for f, _ in faces:
        with Image.open(out / f["thumbnail"]) as im:
            assert im.size == (112, 112)
        assert set(f["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
        assert f["score"] > 0.9 and len(f["sha256"]) == 64
    pair_faces = [f for f, _ in faces if Path(f["photo"]).name == "pair.jpg"]
    assert sorted(f["face"] for f in pair_faces) == [0, 1]
    html = (out / "index.html").read_text()
    assert html.count('class="cluster"') == 7 and 'src="faces/0/0.jpg"' in html


class Counting:
    """Wraps a detector or embedder, counting calls and the crops embedded."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls, self.crops = inner, 0, 0

    def detect(self, image: Any) -> Any:
        self.calls += 1
        return self.inner.detect(image)

    def embed(self, crops: Any, batch_size: int = 64, flip: bool = False) -> np.ndarray:
        self.calls += 1
        self.crops += len(crops)
        return self.inner.embed(crops, batch_size=batch_size, flip=flip)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_rerun_embeds_only_new_photos_and_keeps_ids(first_run, library, recognizer, tmp_path: Path) -> None:
    from facerec import FaceRecognizer

    out = tmp_path / "out"
    shutil.copytree(first_run["out"], out)
    old = {(f["sha256"], f["face"]): c for f, c in faces_of(first_run["doc"])}
    det, emb = Counting(recognizer.detector), Counting(recognizer.embedder)
    rec = FaceRecognizer(emb, det)  # type: ignore[arg-type]

    report = cluster_photos(rec, [library["photos"], library["later"]], out)
    assert (det.calls, emb.crops, emb.calls) == (2, 2, 1)  # the two new photos, one batch
    assert (report.embedded_photos, report.cached_photos, len(report.faces)) == (2, 20, 23)
    doc = json.loads((out / CLUSTERS_JSON).read_text())
    now = faces_of(doc)
    assert all(c == old[(f["sha256"], f["face"])] for f, c in now if (f["sha256"], f["face"]) in old)
    # The grown cluster is now the biggest and listed first, under its old id (not renumbered to 0).
    (later_id,) = {c for f, c in faces_of(first_run["doc"]) if truth_of(f) == LATER}
    assert later_id != 0
    first = doc["clusters"][0]
    assert first["id"] == later_id and first["size"] == 5
    assert {truth_of(f) for f in first["faces"]} == {LATER}
    assert cluster_scores(np.array([truth_of(f) for f, _ in now]), np.array([c for _, c in now])).pairwise_f1 == 1.0

    # Nothing new: nothing detected or embedded, the same clusters under the same ids.
    report = cluster_photos(rec, [library["photos"], library["later"]], out)
    assert (det.calls, emb.crops, report.embedded_photos) == (2, 2, 0)
    again = json.loads((out / CLUSTERS_JSON).read_text())
    assert [(c["id"], c["size"]) for c in again["clusters"]] == [(c["id"], c["size"]) for c in doc["clusters"]]


@pytest.fixture(scope="module")
def min2_run(first_run, library, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("min2") / "out"
    shutil.copytree(first_run["out"], out)  # the cache comes along: nothing is detected again
    assert cli.main(["cluster", str(library["photos"]), "--out", str(out), "--min-size", "2", "--json"]) == 0
    return out


def test_min_size_puts_singletons_in_unclustered(min2_run: Path) -> None:
    doc = json.loads((min2_run / CLUSTERS_JSON).read_text())
    assert [c["size"] for c in doc["clusters"]] == [4, 4, 3, 3, 3, 3] and doc["min_size"] == 2
    (single,) = doc["unclustered"]
    assert truth_of(single) == "Barbara_Walters" and single["thumbnail"] == "faces/unclustered/0.jpg"
    assert (min2_run / single["thumbnail"]).is_file()
    assert not (min2_run / "faces" / "6").exists()  # the old singleton cluster's folder is gone
    html = (min2_run / "index.html").read_text()
    assert html.index('class="unclustered"') > html.rindex('class="cluster"')


def test_json_summary_and_bad_input(library, lfw_dir: Path, tmp_path: Path, capsys, installed_model) -> None:
    installed_model()
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no photos here")
    rc, _, err = run_cli(capsys, ["cluster", str(empty), "--out", str(tmp_path / "o1")])
    assert rc == 2 and "no images found" in err and "Traceback" not in err
    rc, _, err = run_cli(capsys, ["cluster", str(tmp_path / "missing"), "--out", str(tmp_path / "o1")])
    assert rc == 2 and "no such file or folder" in err
    (tmp_path / "theirs" / "faces").mkdir(parents=True)  # a folder of the user's: never replaced
    rc, _, err = run_cli(capsys, ["cluster", str(library["photos"]), "--out", str(tmp_path / "theirs")])
    assert rc == 2 and "not written by facerec cluster" in err

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("Al_Gore/Al_Gore_0001.jpg", "Ashanti/Ashanti_0001.jpg"):
        (mixed / Path(name).name).symlink_to(lfw_dir / name)
    (mixed / "broken.jpg").write_text("not an image")
    (mixed / "truncated.jpg").write_bytes((lfw_dir / "Al_Gore/Al_Gore_0002.jpg").read_bytes()[:600])
    Image.new("RGB", (200, 200), (128, 128, 128)).save(mixed / "blank.png")
    rc, doc, _ = run_cli(capsys, ["cluster", str(mixed), "--out", str(mixed / "out"), "--json"])
    assert rc == 0
    assert {Path(s["path"]).name for s in doc["skipped"]} == {"broken.jpg", "truncated.jpg"}
    assert (doc["photos"], doc["faces"], doc["photos_without_faces"], doc["unclustered"]) == (3, 2, 1, 0)
    assert [c["faces"] for c in doc["clusters"]] == [1, 1] and doc["photos_embedded"] == 3
    # A rerun writes into the output folder inside the photo folder: its thumbnails are not photos.
    rc, doc, _ = run_cli(capsys, ["cluster", str(mixed), "--out", str(mixed / "out"), "--json"])
    assert rc == 0 and doc["photos"] == 3 and doc["photos_cached"] == 3 and doc["photos_embedded"] == 0


def test_find_photos_walks_folders_for_images(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / ".hidden").mkdir()
    for rel in ("a/x.JPG", "a/b/y.png", "a/b/notes.txt", "a/.hidden/z.jpg", "a/out/t.jpg", "c.data"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = find_photos([tmp_path / "a", tmp_path / "c.data", tmp_path / "a" / "x.JPG"], exclude=tmp_path / "a" / "out")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/b/y.png", "a/x.JPG", "c.data"]


def test_enroll_cluster_then_search(first_run, lfw_dir: Path, tmp_path: Path, capsys) -> None:
    out, doc = first_run["out"], first_run["doc"]
    ids = {truth_of(c["faces"][0]): c["id"] for c in doc["clusters"]}
    gallery = str(tmp_path / "gallery")
    rc, rep, _ = run_cli(capsys, ["enroll", "--gallery", gallery, "Al Gore", "--cluster", f"{out}/{ids['Al_Gore']}",
                                  "--json"])
    assert rc == 0 and rep["enrolled"] == {"Al Gore": 4} and rep["skipped"] == []  # one face of pair.jpg
    rc, rep, _ = run_cli(capsys, ["enroll", "--gallery", gallery, "Benazir Bhutto", "--cluster",
                                  f"{out}/{ids['Benazir_Bhutto']}", "--json"])
    assert rc == 0 and rep["enrolled"] == {"Benazir Bhutto": 3} and rep["identities"] == 2
    for person, name in (("Al_Gore", "Al Gore"), ("Benazir_Bhutto", "Benazir Bhutto")):
        photo = lfw_dir / person / f"{person}_0005.jpg"  # never clustered
        rc, res, _ = run_cli(capsys, ["search", "--gallery", gallery, str(photo), "--json"])
        assert rc == 0 and [f["identity"] for f in res["faces"]] == [name]

    # Errors: photos and --cluster together, an unknown id, another model's cluster.
    rc, _, err = run_cli(capsys, ["enroll", "--gallery", gallery, "--folders", str(tmp_path), "--cluster", f"{out}/0"])
    assert rc == 2 and "not both" in err
    rc, _, err = run_cli(capsys, ["enroll", "--gallery", gallery, "X", "--cluster", f"{out}/99"])
    assert rc == 2 and "no cluster 99" in err
    other = tmp_path / "other"
    other.mkdir()
    changed = json.loads((out / CLUSTERS_JSON).read_text())
    changed["model"] = {"name": None, "id": "0123456789abcdef"}
    (other / CLUSTERS_JSON).write_text(json.dumps(changed))
    rc, _, err = run_cli(capsys, ["enroll", "--gallery", gallery, "X", "--cluster", f"{other}/0"])
    assert rc == 2 and "was made with model 0123456789abcdef" in err and "sface" in err
    # A photo changed since it was clustered is skipped, the others enrolled.
    changed = json.loads((out / CLUSTERS_JSON).read_text())
    cluster = next(c for c in changed["clusters"] if c["id"] == ids["Ashanti"])
    cluster["faces"][0]["sha256"] = "0" * 64
    (other / CLUSTERS_JSON).write_text(json.dumps(changed))
    rc, rep, _ = run_cli(capsys, ["enroll", "--gallery", gallery, "Ashanti", "--cluster", f"{other}/{ids['Ashanti']}",
                                  "--json"])
    assert rc == 0 and rep["enrolled"] == {"Ashanti": 3}
    assert [s["reason"] for s in rep["skipped"]] == ["the photo changed since it was clustered"]


# -- the contact sheet in a real browser ----------------------------------------------------------


def test_contact_sheet_in_browser(browser, min2_run: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    doc = json.loads((min2_run / CLUSTERS_JSON).read_text())
    browser.get((min2_run / "index.html").as_uri())
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"))
    sections = browser.find_elements(By.CSS_SELECTOR, "body > section")
    rows = [(s.get_attribute("class"), s.get_attribute("data-cluster"), int(s.get_attribute("data-faces")))
            for s in sections]
    # One row per cluster, biggest first, in clusters.json's order; the unclustered faces last.
    assert rows == [("cluster", str(c["id"]), c["size"]) for c in doc["clusters"]] + [("unclustered", None, 1)]
    for s, c in zip(sections, doc["clusters"]):
        assert s.find_element(By.TAG_NAME, "h2").text.startswith(f"Cluster {c['id']}")
        assert len(s.find_elements(By.TAG_NAME, "img")) == c["size"]
    widths = browser.execute_script("return Array.from(document.images).map(i => i.naturalWidth)")
    assert len(widths) == doc["faces"] == 21 and all(w == 112 for w in widths), widths
    shot = Path(os.environ.get("FACEREC_ARTIFACTS") or tmp_path) / "cluster_contact_sheet.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}", file=sys.stderr)


def test_clusters_json_of_a_newer_format_is_refused(first_run, library, tmp_path: Path, capsys) -> None:
    """A clusters.json whose version is above this facerec's is neither misread by
    ``enroll --cluster`` nor overwritten by a rerun: one line naming the version, exit 2."""
    from pipelines.cluster import FORMAT_VERSION

    out = tmp_path / "out"
    shutil.copytree(first_run["out"], out)
    doc = json.loads((out / CLUSTERS_JSON).read_text())
    assert doc["version"] == FORMAT_VERSION
    doc["version"] = FORMAT_VERSION + 1
    (out / CLUSTERS_JSON).write_text(json.dumps(doc))
    before = (out / CLUSTERS_JSON).read_text()
    rc, _, err = run_cli(capsys, ["enroll", "--gallery", str(tmp_path / "g"), "X", "--cluster", f"{out}/0"])
    assert rc == 2 and f"version {FORMAT_VERSION + 1}" in err and err.count("\n") <= 1
    rc, _, err = run_cli(capsys, ["cluster", str(library["photos"]), "--out", str(out), "--json"])
    assert rc == 2 and "newer facerec" in err
    assert (out / CLUSTERS_JSON).read_text() == before  # not overwritten
