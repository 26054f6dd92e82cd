"""A photo library whose corrections stick: ``facerec cluster`` reruns, the correction commands
(name, merge, not, move, split) and ``decisions.json``, on real LFW photos with the default model.

The library: 4 people with 2 photos each, and a photo made of two LFW photos side by side (two
faces of one photo: never one cluster); 2 more photos of one person arrive later. The truth is
the folder name (the pasted photo: the side). Oracles: that truth, the decisions as written
(each must still hold after reruns), a ``--full`` re-cluster (an incremental rerun must give
the same partition here), and counts of what concurrent writers left.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipelines import cli
from pipelines.cluster import CLUSTERS_JSON
from pipelines.cluster_decisions import DECISIONS_JSON

PEOPLE = {"Al_Gore": (1, 2), "Angela_Merkel": (1, 2), "Ashanti": (1, 2), "Amelia_Vega": (1, 2)}
PAIR = ("Al_Gore", "Ashanti")  # photo 4 of each, side by side in pair.jpg
LATER = [("Al_Gore", 5), ("Angela_Merkel", 3)]


def truth_of(face: dict[str, Any]) -> str:
    photo = Path(face["photo"])
    if photo.name == "pair.jpg":
        return PAIR[0] if (face["box"][0] + face["box"][2]) / 2 < 250 else PAIR[1]
    return photo.name.rsplit("_", 1)[0]


def doc_of(out: Path) -> dict[str, Any]:
    return json.loads((out / CLUSTERS_JSON).read_text())


def cluster_of(doc: dict[str, Any]) -> dict[str, int]:
    """Face key (sha256:index) → cluster id (-1: unclustered)."""
    out = {f"{f['sha256']}:{f['face']}": c["id"] for c in doc["clusters"] for f in c["faces"]}
    out.update({f"{f['sha256']}:{f['face']}": -1 for f in doc["unclustered"]})
    return out


def key(f: dict[str, Any]) -> str:
    return f"{f['sha256']}:{f['face']}"


def ref_keys(refs: list[dict[str, Any]]) -> list[str]:
    return [key(r) for r in refs]


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = cli.main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def library(tmp_path_factory, lfw_dir: Path, installed_model) -> dict[str, Path]:
    installed_model()
    root = tmp_path_factory.mktemp("library")
    photos, later = root / "photos", root / "later"
    photos.mkdir()
    later.mkdir()
    for person, numbers in PEOPLE.items():
        for i in numbers:
            (photos / f"{person}_{i:04d}.jpg").symlink_to(lfw_dir / person / f"{person}_{i:04d}.jpg")
    pair = Image.new("RGB", (500, 250))
    for x, person in zip((0, 250), PAIR):
        pair.paste(Image.open(lfw_dir / person / f"{person}_0004.jpg").convert("RGB"), (x, 0))
    pair.save(photos / "pair.jpg", quality=95)
    for person, i in LATER:
        (later / f"{person}_{i:04d}.jpg").symlink_to(lfw_dir / person / f"{person}_{i:04d}.jpg")
    out = root / "first"
    assert cli.main(["cluster", str(photos), "--out", str(out), "--json"]) == 0
    return {"photos": photos, "later": later, "first": out}


def fresh_copy(library: dict[str, Path], tmp_path: Path) -> Path:
    out = tmp_path / "lib"
    shutil.copytree(library["first"], out, symlinks=True)
    return out


def spec_of(doc: dict[str, Any], person: str, side: str | None = None) -> tuple[int, int]:
    """(cluster id, position) of a face of ``person`` (in pair.jpg when ``side``)."""
    for c in doc["clusters"]:
        for n, f in enumerate(c["faces"]):
            if truth_of(f) == person and (side is None) == (Path(f["photo"]).name != "pair.jpg"):
                return c["id"], n
    raise AssertionError(f"no face of {person}")


def test_first_run_keeps_faces_of_one_photo_apart(library) -> None:
    doc = doc_of(library["first"])
    for c in doc["clusters"]:
        shas = [f["sha256"] for f in c["faces"]]
        assert len(shas) == len(set(shas)), "two faces of one photo in one cluster"
    # The people come out as in the truth (well-separated LFW people).
    for c in doc["clusters"]:
        assert len({truth_of(f) for f in c["faces"]}) == 1


def test_every_correction_survives_reruns_with_new_photos(library, tmp_path: Path, capsys) -> None:
    out = fresh_copy(library, tmp_path)
    doc = doc_of(out)
    gore, _ = spec_of(doc, "Al_Gore")
    merkel, _ = spec_of(doc, "Angela_Merkel")
    vega, _ = spec_of(doc, "Amelia_Vega")
    rc, text, _ = run(capsys, ["cluster", "name", str(out), str(gore), "Al Gore"])
    assert rc == 0 and "is Al Gore" in text
    # A (wrong, but the user's) merge of two people, then a face taken out of Ashanti's cluster,
    # then Al Gore's cluster split.
    doc = doc_of(out)
    merkel, vega = spec_of(doc, "Angela_Merkel")[0], spec_of(doc, "Amelia_Vega")[0]
    assert run(capsys, ["cluster", "merge", str(out), str(merkel), str(vega)])[0] == 0
    doc = doc_of(out)
    ash, n = spec_of(doc, "Ashanti")
    assert run(capsys, ["cluster", "not", str(out), f"{ash}/{n}"])[0] == 0
    doc = doc_of(out)
    gore = next(c["id"] for c in doc["clusters"] if c.get("name") == "Al Gore")
    size = next(c["size"] for c in doc["clusters"] if c["id"] == gore)
    assert size == 3
    assert run(capsys, ["cluster", "split", str(out), str(gore), "0"])[0] == 0
    decisions = json.loads((out / DECISIONS_JSON).read_text())
    assert decisions["version"] == 1 and [d["op"] for d in decisions["decisions"]] == ["name", "merge", "not", "split"]

    def check(doc: dict[str, Any]) -> None:
        where = cluster_of(doc)
        name_d, merge_d, not_d, split_d = decisions["decisions"]
        named = {where[k] for k in ref_keys(name_d["faces"]) if k not in ref_keys(split_d["out"])}
        assert len(named) == 1 and [c.get("name") for c in doc["clusters"] if c["id"] in named] == ["Al Gore"]
        assert len({where[k] for k in ref_keys(merge_d["faces"])}) == 1
        assert where[key(not_d["face"])] not in {where[k] for k in ref_keys(not_d["from"])}
        assert not {where[k] for k in ref_keys(split_d["keep"])} & {where[k] for k in ref_keys(split_d["out"])}
        for c in doc["clusters"]:  # and never two faces of one photo
            assert len({f["sha256"] for f in c["faces"]}) == c["size"]

    check(doc_of(out))
    # New photos arrive: the known people take their new faces, the corrections hold.
    rc, text, _ = run(capsys, ["cluster", str(library["photos"]), str(library["later"]), "--out", str(out)])
    assert rc == 0 and "incremental" in text and "4 decisions applied" in text
    doc = doc_of(out)
    check(doc)
    gore_named = next(c for c in doc["clusters"] if c.get("name") == "Al Gore")
    assert "Al_Gore_0005.jpg" in {Path(f["photo"]).name for f in gore_named["faces"]}
    # A full re-cluster applies them too.
    assert run(capsys, ["cluster", str(library["photos"]), str(library["later"]), "--out", str(out), "--full"])[0] == 0
    check(doc_of(out))
    # The contact sheet shows the name and the commands that correct it.
    page = (out / "index.html").read_text()
    assert "Al Gore" in page and f"facerec cluster name {out}" in page and f"facerec cluster not {out}" in page


def test_merge_or_move_of_two_faces_of_one_photo_is_refused(library, tmp_path: Path, capsys) -> None:
    out = fresh_copy(library, tmp_path)
    doc = doc_of(out)
    left, _ = spec_of(doc, "Al_Gore", side="pair")
    right, n = spec_of(doc, "Ashanti", side="pair")
    assert left != right
    rc, _, err = run(capsys, ["cluster", "merge", str(out), str(left), str(right)])
    assert rc == 2 and "one photo" in err and err.count("\n") == 1 and "Traceback" not in err
    face = next(c for c in doc["clusters"] if c["id"] == right)["faces"][n]
    rc, _, err = run(capsys, ["cluster", "move", str(out), face["id"], str(left)])  # by its id HASH:INDEX
    assert rc == 2 and "one photo" in err
    assert not (out / DECISIONS_JSON).exists()


def test_incremental_rerun_equals_full_recluster(library, tmp_path: Path, capsys) -> None:
    out = fresh_copy(library, tmp_path)
    args = ["cluster", str(library["photos"]), str(library["later"]), "--out", str(out)]
    assert run(capsys, args)[0] == 0
    inc = doc_of(out)
    assert run(capsys, [*args, "--full"])[0] == 0
    full = doc_of(out)
    part = lambda d: sorted(sorted(key(f) for f in c["faces"]) for c in d["clusters"])  # noqa: E731
    assert part(inc) == part(full)
    assert cluster_of(inc) == cluster_of(full)  # and the ids are kept


def test_decisions_file_is_versioned(library, tmp_path: Path, capsys) -> None:
    out = fresh_copy(library, tmp_path)
    (out / DECISIONS_JSON).write_text(json.dumps({"format": "facerec.decisions", "version": 2, "decisions": []}))
    for argv in (["cluster", str(library["photos"]), "--out", str(out)], ["cluster", "name", str(out), "0", "X"]):
        rc, _, err = run(capsys, argv)
        assert rc == 2 and "version 2" in err and "newer facerec" in err and "Traceback" not in err
    (out / DECISIONS_JSON).write_text("{not json")
    rc, _, err = run(capsys, ["cluster", "name", str(out), "0", "X"])
    assert rc == 2 and "unreadable decisions file" in err
    assert (out / DECISIONS_JSON).read_text() == "{not json"  # a user's file is never overwritten


ROUNDS = 6  # corrections per writer: enough overlap that a lost update shows


def _writer(out: str, cid: int, start: Any) -> None:
    from pipelines.cluster_corrections import name_cluster

    start.wait()
    for r in range(ROUNDS):
        name_cluster(out, cid, f"person {cid} #{r}")


def test_concurrent_writers_keep_every_update(library, tmp_path: Path) -> None:
    """Writer processes each rename their own cluster several times at once: every decision is
    in decisions.json and every cluster carries its writer's last name. (Without the lock this
    lost decisions: each writer read the file, appended, and overwrote the others' appends.)"""
    out = fresh_copy(library, tmp_path)
    ids = [c["id"] for c in doc_of(out)["clusters"]][:3]
    assert len(ids) == 3
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(out), cid, start)) for cid in ids]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    decisions = json.loads((out / DECISIONS_JSON).read_text())["decisions"]
    assert sorted(d["name"] for d in decisions) == sorted(f"person {cid} #{r}" for cid in ids for r in range(ROUNDS))
    names = {c["id"]: c.get("name") for c in doc_of(out)["clusters"] if c["id"] in ids}
    assert names == {cid: f"person {cid} #{ROUNDS - 1}" for cid in ids}


def test_face_refs_follow_the_box_when_a_photo_is_detected_differently() -> None:
    """A decision's face is found by hash + index while its box still matches, else by the
    best-overlapping box of the same photo (a detector change re-ordered the faces); a face
    whose photo is gone matches nothing (the decision is dropped for it, not misapplied)."""
    from pipelines.cluster_decisions import FaceRef, FaceTable, replay

    a, b = "a" * 64, "b" * 64
    boxes = np.array([[0, 0, 10, 10], [100, 100, 120, 120], [0, 0, 10, 10]], float)
    table = FaceTable([a, a, b], [0, 1, 0], boxes)
    assert table.rows(FaceRef(a, 0, (0, 0, 10, 10))) == [0]
    assert table.rows(FaceRef(a, 0, (101, 99, 121, 119))) == [1]  # index 0 now, but the box says face 1
    assert table.rows(FaceRef(a, 2, (50, 50, 60, 60))) == []
    assert table.rows(FaceRef("c" * 64, 0, (0, 0, 10, 10))) == []
    ref = lambda sha, i: {"sha256": sha, "face": i, "box": boxes[i if sha == a else 2].tolist()}  # noqa: E731
    # Naming two faces of one photo as one person is skipped (and said), a later "not" wins
    # over an earlier name.
    st = replay([{"op": "name", "name": "X", "faces": [ref(a, 0), ref(a, 1)]},
                 {"op": "name", "name": "Y", "faces": [ref(a, 0), ref(b, 0)]},
                 {"op": "not", "face": ref(b, 0), "from": [ref(a, 0)]}], table)
    assert len(st.skipped) == 1 and "one photo" in st.skipped[0]
    assert st.pin == {f"{a}:0": st.group_of_name("Y")} and (f"{a}:0", f"{b}:0") in st.cannot


def test_an_earlier_cluster_that_breaks_a_cannot_link_is_clustered_afresh() -> None:
    """A clusters.json written before these rules may hold two faces of one photo in one
    cluster: an incremental run drops that cluster's grouping (its faces are clustered again,
    under the cannot-link) and keeps the others frozen."""
    from facerec.clustering import cluster_embeddings
    from pipelines.cluster_decisions import FaceTable, compile_decisions, library_constraints

    a, b, c = "a" * 64, "b" * 64, "c" * 64
    table = FaceTable([a, a, b, c], [0, 1, 0, 0], np.array([[0, 0, 9, 9], [20, 0, 29, 9], [0, 0, 9, 9], [0, 0, 9, 9]]))
    decided, _ = compile_decisions([], table)
    con = library_constraints(table, decided, previous=np.array([0, 0, 0, 1]))
    assert con.groups[:3].tolist() == [-1, -1, -1] and con.groups[3] >= 0 and con.frozen.tolist() == [0, 0, 0, 1]
    assert {tuple(sorted(p)) for p in con.cannot_link.tolist()} == {(0, 1)}
    x = np.ones((4, 8), np.float32)  # all four look alike: only the cannot-link keeps 0 and 1 apart
    labels = cluster_embeddings(x, 0.5, constraints=con)
    assert labels[0] != labels[1]
