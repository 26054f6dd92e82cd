"""A user's corrections of a ``facerec cluster`` folder: name a cluster, merge two, take a face
out ("not this person"), move it to another cluster, split a cluster in two.

Each correction is checked against the folder's current ``clusters.json``, appended to
``decisions.json`` (:mod:`pipelines.cluster_decisions`: faces by photo content, never by
cluster number) and applied at once: the clusters are recomputed incrementally (no photo is
read, no face embedded) and ``clusters.json``, ``faces/`` and ``index.html`` rewritten, all
under the folder's lock, so corrections from several processes at once are all kept. Every
later ``facerec cluster`` run replays the decisions, so they survive reruns with new photos.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facerec.io.atomic import atomic_write_text
from facerec.errors import FacerecError

from .cluster import (CLUSTERS_JSON, EMBEDDINGS_NPY, MIN_QUALITY, ClusterReport, FaceRecord, assign_clusters,
                      library_lock, read_clusters_json, write_library)
from .cluster_decisions import DECISIONS_JSON, decisions_document, photo_conflict, read_decisions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Correction:
    """What a correction did: a one-line summary and the library as it now is."""

    message: str
    report: ClusterReport


def open_library(out_dir: str | os.PathLike) -> tuple[ClusterReport, np.ndarray, dict[str, Any]]:
    """The report, embeddings (N, D) and ``clusters.json`` document of a ``facerec cluster`` folder."""
    out = Path(out_dir)
    path = out / CLUSTERS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (run 'facerec cluster PHOTOS --out {out}' first)")
    try:
        doc = read_clusters_json(path)
        model = doc["model"]
        report = ClusterReport(out, model.get("name"), str(model["id"]), float(doc["threshold"]), str(doc["method"]),
                               int(doc["min_size"]), photos=int(doc["photos"]),
                               photos_without_faces=list(doc.get("photos_without_faces", [])),
                               skipped=[(s["path"], s["reason"]) for s in doc.get("skipped", [])],
                               min_quality=float(doc.get("min_quality", MIN_QUALITY)))
        faces = [FaceRecord.from_dict(f, int(c["id"])) for c in doc["clusters"] for f in c["faces"]]
        faces += [FaceRecord.from_dict(f, -1) for f in doc.get("unclustered", [])]
        report.faces = sorted(faces, key=lambda f: f.row)
        report.names = {int(c["id"]): str(c["name"]) for c in doc["clusters"] if "name" in c}
        embeddings = np.load(out / EMBEDDINGS_NPY, allow_pickle=False)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise FacerecError(f"{path}: unreadable clusters folder ({exc})") from None
    if [f.row for f in report.faces] != list(range(embeddings.shape[0])):
        raise FacerecError(f"{out}: {CLUSTERS_JSON} and {EMBEDDINGS_NPY} disagree (rerun 'facerec cluster')")
    return report, embeddings, doc


def _cluster(report: ClusterReport, cid: int) -> list[FaceRecord]:
    for c, faces in report.clusters():
        if c == cid:
            return faces
    known = ", ".join(str(c) for c, _ in report.clusters()[:20])
    raise FacerecError(f"no cluster {cid} in {report.out_dir / CLUSTERS_JSON} (clusters: {known or 'none'})")


def find_face(report: ClusterReport, spec: str) -> FaceRecord:
    """The face named ``spec``: ``ID/N`` (the N-th face of cluster ID on the contact sheet) or a
    face id ``HASH:INDEX`` (``clusters.json``'s ``id``; any unique prefix of the photo hash)."""
    if "/" in spec:
        cid, _, n = spec.partition("/")
        try:
            faces, i = _cluster(report, int(cid)), int(n)
        except ValueError:
            raise FacerecError(f"a face is ID/N or HASH:INDEX, got {spec!r}") from None
        if not 0 <= i < len(faces):
            raise FacerecError(f"cluster {cid} has faces 0 to {len(faces) - 1}, not {i}")
        return faces[i]
    sha, _, idx = spec.partition(":")
    matches = [f for f in report.faces if f.sha256.startswith(sha.lower()) and idx.isdigit() and f.face == int(idx)]
    if not matches:
        raise FacerecError(f"no face {spec!r} in {report.out_dir / CLUSTERS_JSON} (give ID/N or HASH:INDEX)")
    if len({f.sha256 for f in matches}) > 1:
        raise FacerecError(f"face {spec!r} is ambiguous: give more digits of the photo hash")
    return matches[0]


def _refs(faces: Sequence[FaceRecord]) -> list[dict[str, Any]]:
    """Decision face references, one per face (copies of a photo once)."""
    seen: dict[str, dict[str, Any]] = {}
    for f in faces:
        seen.setdefault(f"{f.sha256}:{f.face}", {"sha256": f.sha256, "face": f.face,
                                                  "box": [round(float(v), 2) for v in f.detection.box]})
    return list(seen.values())


def _refuse_same_photo(faces: Sequence[FaceRecord], what: str) -> None:
    clash = photo_conflict(f"{f.sha256}:{f.face}" for f in faces)
    if clash:
        photo = next(f.photo for f in faces if f"{f.sha256}:{f.face}" == clash[0])
        raise FacerecError(f"refused: {what} would put two faces of one photo ({photo}) in one cluster; "
                           "a photo shows each person once")


def _correct(out_dir: str | os.PathLike, decide: Callable[[ClusterReport], tuple[dict[str, Any], list[FaceRecord]]],
             describe: Callable[[ClusterReport, list[FaceRecord]], str]) -> Correction:
    """Under the library lock: read the folder, build one decision (``decide`` raises on a bad
    one), append it to ``decisions.json``, recompute the clusters and rewrite the folder."""
    out = Path(out_dir)
    with library_lock(out):
        report, embeddings, doc = open_library(out)
        decisions = read_decisions(out)
        decision, subject = decide(report)
        decisions.append(decision)
        # decisions.json first: it is the record; clusters.json is recomputed from it on any run.
        atomic_write_text(out / DECISIONS_JSON, decisions_document(decisions))
        assign_clusters(report, embeddings, doc, decisions)
        write_library(report, embeddings, lambda f: out / f.thumbnail)
    by_key = {(f.sha256, f.face, f.row): f for f in report.faces}
    now = [by_key[(f.sha256, f.face, f.row)] for f in subject]
    return Correction(describe(report, now), report)


def _where(report: ClusterReport, f: FaceRecord) -> str:
    if f.cluster < 0:
        return "unclustered"
    name = report.names.get(f.cluster)
    return f"cluster {f.cluster}" + (f" ({name})" if name else "")


def name_cluster(out_dir: str | os.PathLike, cluster_id: int, name: str) -> Correction:
    """Name cluster ``cluster_id``. A name already given to another cluster merges the two
    (refused if that would put two faces of one photo together)."""
    name = name.strip()
    if not name:
        raise FacerecError("a name cannot be empty")

    def decide(report: ClusterReport) -> tuple[dict[str, Any], list[FaceRecord]]:
        faces = _cluster(report, cluster_id)
        other = [f for c, fs in report.clusters() if c != cluster_id and report.names.get(c) == name for f in fs]
        _refuse_same_photo(faces + other, f"naming cluster {cluster_id} {name!r} (another cluster is {name!r})")
        return {"op": "name", "name": name, "faces": _refs(faces)}, faces[:1]

    return _correct(out_dir, decide, lambda r, fs: f"cluster {fs[0].cluster} is {name} "
                    f"({sum(f.cluster == fs[0].cluster for f in r.faces)} faces)")


def merge_clusters(out_dir: str | os.PathLike, cluster_id: int, other_id: int) -> Correction:
    """Merge cluster ``other_id`` into ``cluster_id`` (one person). Refused when the two hold
    faces of one photo or carry two different names."""
    if cluster_id == other_id:
        raise FacerecError("merge needs two different clusters")

    def decide(report: ClusterReport) -> tuple[dict[str, Any], list[FaceRecord]]:
        a, b = _cluster(report, cluster_id), _cluster(report, other_id)
        na, nb = report.names.get(cluster_id), report.names.get(other_id)
        if na and nb and na != nb:
            raise FacerecError(f"refused: cluster {cluster_id} is {na!r} and cluster {other_id} is {nb!r}; "
                               "rename one first if they are one person")
        _refuse_same_photo(a + b, f"merging clusters {cluster_id} and {other_id}")
        return {"op": "merge", "faces": _refs(a + b)}, a[:1]

    return _correct(out_dir, decide, lambda r, fs: f"merged: {_where(r, fs[0])}, "
                    f"{sum(f.cluster == fs[0].cluster for f in r.faces)} faces")


def not_this_person(out_dir: str | os.PathLike, face: str) -> Correction:
    """Take ``face`` (``ID/N`` or ``HASH:INDEX``) out of its cluster for good: it never joins
    that person again, and goes where the clustering rule puts it among the others."""

    def decide(report: ClusterReport) -> tuple[dict[str, Any], list[FaceRecord]]:
        f = find_face(report, face)
        if f.cluster < 0:
            raise FacerecError(f"face {face} is unclustered: it is in no cluster to take it out of")
        rest = [g for g in _cluster(report, f.cluster) if (g.sha256, g.face) != (f.sha256, f.face)]
        return {"op": "not", "face": _refs([f])[0], "from": _refs(rest)}, [f]

    return _correct(out_dir, decide, lambda r, fs: f"face {fs[0].id} is now {_where(r, fs[0])}")


def move_face(out_dir: str | os.PathLike, face: str, cluster_id: int) -> Correction:
    """Move ``face`` to cluster ``cluster_id`` (it is that person, not the one it was with).
    Refused when the target already holds another face of its photo."""

    def decide(report: ClusterReport) -> tuple[dict[str, Any], list[FaceRecord]]:
        f = find_face(report, face)
        if f.cluster == cluster_id:
            raise FacerecError(f"face {face} is in cluster {cluster_id} already")
        to = _cluster(report, cluster_id)
        _refuse_same_photo(to + [f], f"moving face {face} to cluster {cluster_id}")
        rest = [g for g in report.faces if f.cluster >= 0 and g.cluster == f.cluster
                and (g.sha256, g.face) != (f.sha256, f.face)]
        return {"op": "move", "face": _refs([f])[0], "from": _refs(rest), "to": _refs(to)}, [f]

    return _correct(out_dir, decide, lambda r, fs: f"face {fs[0].id} is now {_where(r, fs[0])}")


def split_cluster(out_dir: str | os.PathLike, cluster_id: int, faces: Sequence[str]) -> Correction:
    """Split cluster ``cluster_id`` in two people: ``faces`` (``N`` = its N-th face, or
    ``ID/N``, or ``HASH:INDEX``) against the rest. The rest keeps the cluster's name."""
    if not faces:
        raise FacerecError("split needs the faces that are another person (their numbers N in the cluster)")

    def decide(report: ClusterReport) -> tuple[dict[str, Any], list[FaceRecord]]:
        members = _cluster(report, cluster_id)
        out = [find_face(report, s if ("/" in s or ":" in s) else f"{cluster_id}/{s}") for s in faces]
        if any(f.cluster != cluster_id for f in out):
            raise FacerecError(f"split: every face must be in cluster {cluster_id}")
        keys = {(f.sha256, f.face) for f in out}
        keep = [f for f in members if (f.sha256, f.face) not in keys]
        if not keep:
            raise FacerecError("split: leave at least one face in the cluster (to rename it, use 'name')")
        return {"op": "split", "keep": _refs(keep), "out": _refs(out)}, [keep[0], out[0]]

    return _correct(out_dir, decide, lambda r, fs: f"split: {_where(r, fs[0])} and {_where(r, fs[1])}")
