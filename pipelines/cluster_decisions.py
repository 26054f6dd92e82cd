"""A photo library's user decisions (``DIR/decisions.json``) and how they become clustering
constraints (:class:`facerec.clustering.Constraints`).

A decision names faces, never cluster numbers (those change from run to run): each face is a
:class:`FaceRef` — the sha256 of its photo's bytes, its index among the photo's detections and
its box, so a decision still finds its face after photos are added, moved or renamed, and
after a detector change re-orders a photo's faces (the box decides then). The file is an
append-only log, replayed in order on every run; a later decision overrides an earlier one::

    {"format": "facerec.decisions", "version": 1, "decisions": [
      {"op": "name",  "name": "Alice", "faces": [REF, ...]},            # these faces are Alice
      {"op": "merge", "faces": [REF, ...]},                              # these faces are one person
      {"op": "not",   "face": REF, "from": [REF, ...]},                  # REF is none of these
      {"op": "move",  "face": REF, "from": [REF, ...], "to": [REF, ...]}, # ... but the same as these
      {"op": "split", "keep": [REF, ...], "out": [REF, ...]}]}           # two people, not one

with ``REF = {"sha256": "...", "face": 0, "box": [x1, y1, x2, y2]}``. Replaying gives groups
of faces that stay together (must-link), pairs that never share a cluster (cannot-link), the
name of each named group, and the faces a decision took out of the cluster they were in.
Two names are two people: differently named groups are kept apart.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from facerec.clustering import Constraints, same_photo_pairs
from facerec.errors import FacerecError
from facerec.io.formats import check_version

log = logging.getLogger(__name__)

DECISIONS_JSON = "decisions.json"
DECISIONS_FORMAT = "facerec.decisions"
DECISIONS_VERSION = 1
OPS = ("name", "merge", "not", "move", "split")
#: A recorded box matches a face of the same photo when their IoU reaches this (a detector
#: change moves boxes by a few pixels; another face of the photo overlaps far less).
MATCH_IOU = 0.5


@dataclass(frozen=True)
class FaceRef:
    """A face that survives reruns: its photo's content hash, its index among the photo's
    detections (highest score first) and its box (x1, y1, x2, y2) in photo pixels."""

    sha256: str
    face: int
    box: tuple[float, float, float, float]

    @property
    def key(self) -> str:
        return f"{self.sha256}:{self.face}"

    @property
    def short(self) -> str:
        """The id the CLI prints and accepts: 12 hex digits of the photo hash, ``:``, the index."""
        return f"{self.sha256[:12]}:{self.face}"

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "face": self.face, "box": [round(float(v), 2) for v in self.box]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FaceRef":
        return cls(str(d["sha256"]), int(d["face"]), tuple(float(v) for v in d["box"]))  # type: ignore[arg-type]


# -- the file ---------------------------------------------------------------------------------
def read_decisions(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The decisions of a library folder, oldest first ([] without a file). The version is
    checked: :class:`facerec.errors.NewerFormat` for a newer one, :class:`FacerecError` for a file that is
    not a decisions file (never silently ignored: it holds a user's work)."""
    path = Path(out_dir) / DECISIONS_JSON
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FacerecError(f"{path}: unreadable decisions file ({exc})") from None
    check_version(doc, DECISIONS_FORMAT, DECISIONS_VERSION, os.fspath(path))
    decisions = doc.get("decisions")
    if not isinstance(decisions, list) or not all(isinstance(d, dict) and d.get("op") in OPS for d in decisions):
        raise FacerecError(f"{path}: malformed decisions list (each needs an op: {', '.join(OPS)})")
    return decisions


def decisions_document(decisions: Sequence[dict[str, Any]]) -> str:
    """The text of a ``decisions.json`` holding ``decisions``."""
    doc = {"format": DECISIONS_FORMAT, "version": DECISIONS_VERSION, "decisions": list(decisions)}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


# -- faces of this run ------------------------------------------------------------------------
class FaceTable:
    """Finds this run's face rows for a :class:`FaceRef` (by hash and index, checked by box;
    else by the best-overlapping box of the same photo)."""

    def __init__(self, sha256: Sequence[str], face: Sequence[int], boxes: np.ndarray) -> None:
        self.sha256 = list(sha256)
        self.face = np.asarray(face, np.int64)
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.by_photo: dict[str, list[int]] = {}
        for row, sha in enumerate(self.sha256):
            self.by_photo.setdefault(sha, []).append(row)

    def __len__(self) -> int:
        return len(self.sha256)

    def key(self, row: int) -> str:
        return f"{self.sha256[row]}:{int(self.face[row])}"

    def ref(self, row: int) -> FaceRef:
        box = tuple(float(v) for v in self.boxes[row])
        return FaceRef(self.sha256[row], int(self.face[row]), box)  # type: ignore[arg-type]

    def rows(self, ref: FaceRef) -> list[int]:
        """Rows showing ``ref``'s face (several for copies of one photo; [] if it is gone)."""
        rows = self.by_photo.get(ref.sha256, [])
        if not rows:
            return []
        same = [r for r in rows if self.face[r] == ref.face and _iou(self.boxes[r], ref.box) >= MATCH_IOU]
        if same:
            return same
        ious = [(_iou(self.boxes[r], ref.box), int(self.face[r])) for r in rows]
        best_iou, best_face = max(ious)
        return [r for r in rows if self.face[r] == best_face] if best_iou >= MATCH_IOU else []

    def photo_ids(self) -> np.ndarray:
        """(N,) int: one id per photo content."""
        _, inv = np.unique(np.array(self.sha256, dtype=object).astype(str), return_inverse=True)
        return inv.ravel().astype(np.int64)


def _iou(a: np.ndarray, b: Iterable[float]) -> float:
    b = np.asarray(list(b), np.float64)
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# -- replay -----------------------------------------------------------------------------------
@dataclass
class Replayed:
    """The decisions replayed on this run's faces (face keys ``sha256:index``)."""

    pin: dict[str, int] = field(default_factory=dict)  # face key → group
    names: dict[int, str] = field(default_factory=dict)  # group → name
    cannot: set[tuple[str, str]] = field(default_factory=set)  # sorted key pairs
    detached: set[str] = field(default_factory=set)  # faces a decision took out of their cluster
    skipped: list[str] = field(default_factory=list)  # why a decision could not apply
    _next: int = 0

    def members(self, group: int) -> set[str]:
        return {k for k, g in self.pin.items() if g == group}

    def group_of_name(self, name: str) -> int | None:
        return next((g for g, n in self.names.items() if n == name), None)

    def unify(self, keys: Iterable[str]) -> int:
        """Put ``keys`` (and the groups they are in) into one group; it keeps the oldest
        group's id and name. Cannot-links inside it are dropped (the later decision wins)."""
        keys = list(keys)
        groups = sorted({self.pin[k] for k in keys if k in self.pin})
        if groups:
            gid = groups[0]
        else:
            gid, self._next = self._next, self._next + 1
        for g in groups[1:]:
            for k in self.members(g):
                self.pin[k] = gid
            if gid not in self.names and g in self.names:
                self.names[gid] = self.names[g]
            self.names.pop(g, None)
        for k in keys:
            self.pin[k] = gid
        inside = self.members(gid)
        self.cannot = {p for p in self.cannot if not (p[0] in inside and p[1] in inside)}
        return gid

    def unpin(self, key: str) -> None:
        g = self.pin.pop(key, None)
        if g is not None and not self.members(g):
            self.names.pop(g, None)

    def keep_apart(self, a: Iterable[str], b: Iterable[str]) -> None:
        bs = list(b)
        self.cannot |= {(min(x, y), max(x, y)) for x in a for y in bs if x != y}


def photo_conflict(keys: Iterable[str]) -> tuple[str, str] | None:
    """Two faces of one photo among ``keys`` (a photo shows each person once), else None."""
    seen: dict[str, str] = {}
    for k in keys:
        sha = k.rsplit(":", 1)[0]
        if sha in seen and seen[sha] != k:
            return seen[sha], k
        seen[sha] = k
    return None


def replay(decisions: Sequence[dict[str, Any]], table: FaceTable) -> Replayed:
    """Replay ``decisions`` in order on the faces of ``table``. Faces no longer in the library
    are left out of each decision; a decision that would put two faces of one photo in one
    group, or join two differently named people, is skipped (and listed in ``skipped``)."""
    st = Replayed()

    def keys(refs: Any) -> list[str]:
        out: list[str] = []
        for d in refs or []:
            rows = table.rows(FaceRef.from_dict(d))
            out += [table.key(r) for r in rows[:1]]  # copies of a photo share the key
        return list(dict.fromkeys(out))

    for n, d in enumerate(decisions):
        op = d["op"]
        try:
            if op in ("name", "merge"):
                faces = keys(d.get("faces"))
                if not faces:
                    continue
                if op == "name":
                    other = st.group_of_name(str(d["name"]))
                    if other is not None:
                        faces += sorted(st.members(other))
                else:
                    named = {st.names[st.pin[k]] for k in faces if k in st.pin and st.pin[k] in st.names}
                    if len(named) > 1:
                        st.skipped.append(f"decision {n + 1} (merge): joins {' and '.join(sorted(named))}")
                        continue
                gids = {st.pin[k] for k in faces if k in st.pin}
                whole = set(faces).union(*(st.members(g) for g in gids))
                clash = photo_conflict(whole)
                if clash:
                    st.skipped.append(f"decision {n + 1} ({op}): faces {clash[0]} and {clash[1]} are in one photo")
                    continue
                gid = st.unify(faces)
                if op == "name":
                    st.names[gid] = str(d["name"])
            elif op in ("not", "move"):
                face = keys([d["face"]])
                if not face:
                    continue
                f = face[0]
                st.unpin(f)
                st.detached.add(f)
                st.keep_apart([f], keys(d.get("from")))
                if op == "move":
                    to = keys(d.get("to"))
                    gids = {st.pin[k] for k in to if k in st.pin}
                    clash = photo_conflict({f, *to}.union(*(st.members(g) for g in gids)))
                    if clash:
                        st.skipped.append(f"decision {n + 1} (move): faces {clash[0]} and {clash[1]} are in one photo")
                    elif to:
                        st.unify([f, *to])
            elif op == "split":
                keep, out = keys(d.get("keep")), keys(d.get("out"))
                out = [k for k in out if k not in keep]
                for k in out:
                    st.unpin(k)
                st.detached |= set(keep) | set(out)
                if keep:
                    st.unify(keep)
                if out:
                    st.unify(out)
                st.keep_apart(keep, out)
        except (KeyError, TypeError, ValueError) as exc:
            st.skipped.append(f"decision {n + 1} ({op}): malformed ({exc})")
    for msg in st.skipped:
        log.warning("decisions: %s", msg)
    return st


@dataclass(frozen=True)
class DecidedConstraints:
    """Replayed decisions as arrays over this run's N faces."""

    groups: np.ndarray  # (N,) int: decision group, -1 = none
    cannot_link: np.ndarray  # (C, 2) int rows: decisions' pairs and differently named groups
    names: dict[int, str]  # decision group → name
    detached: np.ndarray  # (N,) bool: taken out of their earlier cluster by a decision


def compile_decisions(decisions: Sequence[dict[str, Any]], table: FaceTable) -> tuple[DecidedConstraints, Replayed]:
    """Decisions → row arrays (every copy of a photo gets its face's constraints)."""
    st = replay(decisions, table)
    n = len(table)
    rows_of: dict[str, list[int]] = {}
    for r in range(n):
        rows_of.setdefault(table.key(r), []).append(r)
    groups = np.full(n, -1, np.int64)
    for k, g in st.pin.items():
        groups[rows_of.get(k, [])] = g
    pairs = [(i, j) for a, b in st.cannot for i in rows_of.get(a, []) for j in rows_of.get(b, [])]
    named = sorted(st.names)
    rep = {g: int(np.flatnonzero(groups == g)[0]) for g in named if np.any(groups == g)}
    pairs += [(rep[g], rep[h]) for i, g in enumerate(named) for h in named[i + 1:] if g in rep and h in rep]
    detached = np.zeros(n, bool)
    for k in st.detached:
        detached[rows_of.get(k, [])] = True
    cl = np.array(pairs, np.int64).reshape(-1, 2)
    return DecidedConstraints(groups, cl, dict(st.names), detached), st


# -- decisions + an earlier run → the constraints of this run ---------------------------------
def library_constraints(table: FaceTable, decided: DecidedConstraints, previous: np.ndarray | None,
                        core: np.ndarray | None = None) -> Constraints:
    """The constraints of one run over the N faces of ``table``.

    Always: two faces of one photo never share a cluster (copies of a photo excepted: those
    are one face), plus the decisions' groups and cannot-links. ``previous`` (N,) int: each
    face's cluster in the earlier run (-1: new, or unclustered then); given, the run is
    incremental: each earlier cluster (less the faces a decision took out of it), joined with
    the decision groups it overlaps, is one frozen group — new faces join it by the clustering
    rule, it never merges with another. Should an earlier cluster break a cannot-link (a
    clusters.json from before these rules, or a decision it has not seen), its grouping is
    dropped and its faces are clustered afresh. ``core``: see :class:`Constraints`.
    """
    n = len(table)
    pairs = same_photo_pairs(table.photo_ids())
    pairs = pairs[table.face[pairs[:, 0]] != table.face[pairs[:, 1]]]
    cannot = np.concatenate([pairs, decided.cannot_link]).astype(np.int64)
    if previous is None:
        return Constraints(groups=decided.groups, cannot_link=cannot, core=core)
    old = np.asarray(previous, np.int64).copy()
    old[decided.detached] = -1
    for _ in range(n + 1):
        groups = _joined_groups(decided.groups, old)
        bad = (groups[cannot[:, 0]] == groups[cannot[:, 1]]) & (groups[cannot[:, 0]] >= 0)
        if not bad.any():
            break
        broken = np.unique(old[cannot[bad].ravel()])
        broken = broken[broken >= 0]
        log.warning("the earlier run's cluster(s) %s break a cannot-link: their faces are clustered afresh",
                    ", ".join(str(int(c)) for c in broken[:10]))
        if not broken.size:  # decisions alone conflict: replay() prevents this
            raise FacerecError("the decisions contradict each other (a must-link and a cannot-link on one pair)")
        old[np.isin(old, broken)] = -1
    return Constraints(groups=groups, cannot_link=cannot, frozen=groups >= 0, core=core)


def _joined_groups(decided: np.ndarray, old: np.ndarray) -> np.ndarray:
    """(N,) group per face: connected components of "same decision group" and "same earlier
    cluster"; -1 for faces in neither."""
    n = decided.size
    d_ids, d = np.unique(decided, return_inverse=True)
    o_ids, o = np.unique(old, return_inverse=True)
    d, o = d.ravel(), o.ravel()
    rows = np.arange(n)
    use_d, use_o = decided >= 0, old >= 0
    src = np.concatenate([rows[use_d], rows[use_o]])
    dst = np.concatenate([n + d[use_d], n + d_ids.size + o[use_o]])
    m = n + d_ids.size + o_ids.size
    graph = sp.coo_matrix((np.ones(src.size), (src, dst)), shape=(m, m))
    _, comp = connected_components(graph, directed=False)
    out = comp[:n].astype(np.int64)
    out[~(use_d | use_o)] = -1
    return out


def cluster_names(labels: np.ndarray, decided: DecidedConstraints) -> dict[int, str]:
    """Final cluster id → the name of the decision group inside it."""
    out: dict[int, str] = {}
    for g, name in decided.names.items():
        rows = np.flatnonzero(decided.groups == g)
        labs = labels[rows]
        if labs.size and labs[0] >= 0:
            out[int(labs[0])] = name
    return out
