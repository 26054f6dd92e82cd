"""The gallery interface shared by every backend, and its result types.

A gallery maps identity names to one or more *templates* (L2-normalised embeddings) and
answers "who is this?" for query faces. Everything that does not depend on where vectors
are stored lives here: turning images into embeddings (through an optional
:class:`~facerec.FaceRecognizer`), face selection, name validation, the model-fingerprint
check, ranking identities from vector neighbours, and the open-set threshold. Backends
(:class:`~facerec.gallery.Gallery` over FAISS, :class:`~facerec.gallery.MilvusGallery`)
implement the few storage primitives at the bottom.

Scores are cosine similarities (inner products of unit vectors, :mod:`facerec.similarity`),
the same number verification thresholds, so a verification threshold applies unchanged.

Aggregation over the templates of one identity (fixed when a gallery is created):

``"max"`` (default)
    score(identity) = max over its templates of cos(query, template). Every template is
    indexed; search retrieves ``k' ≥ k`` vector neighbours and keeps each identity's first
    (best) hit, growing ``k'`` until ``k`` distinct identities are found (at most
    ``k × max templates per identity`` neighbours, which always suffices for exact search).
``"mean"``
    score(identity) = cos(query, normalise(mean of its templates)): one vector per identity
    (the classic "mean template"), robust to a single bad photo, cheaper to search.
"""
from __future__ import annotations

import json
import logging
import math
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence, Union

import numpy as np

from facerec.detection.detector import choose_face
from facerec.errors import FacerecError, ModelError, MultipleFacesError, NoFaceError
from facerec.io.image import ImageInput, load_image
from facerec.similarity import l2_normalize
from facerec.types import Detection, Face
from facerec.gallery.names import validate_identity

if TYPE_CHECKING:
    from facerec.quality import FaceQuality
    from facerec.recognizer import FaceRecognizer

log = logging.getLogger(__name__)

Aggregation = Literal["max", "mean"]
AGGREGATIONS: tuple[str, ...] = ("max", "mean")
#: ``face=`` for enrollment: an index into the detections (highest score first) or "largest".
FaceChoice = Union[int, Literal["largest"], None]
#: Sees an image's chosen face (and the image's label) before it is enrolled; raises to refuse it.
FaceCheck = Callable[[Face, str], None]
#: What enroll/search accept: an image (path, bytes, PIL, uint8 array), one embedding (D,),
#: a batch of embeddings (N, D) float, or a list of images / embeddings.
GalleryInput = Union[ImageInput, np.ndarray, Sequence[Union[ImageInput, np.ndarray]]]


class GalleryError(FacerecError):
    """A saved gallery is missing, corrupt, inconsistent or of an unknown format."""


@dataclass(frozen=True)
class Match:
    """One candidate identity and its aggregated cosine score."""

    identity: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "score": round(float(self.score), 6)}


@dataclass(frozen=True)
class SearchResult:
    """The answer for one query face: ranked candidates and the open-set decision.

    ``identity`` is the best candidate when its score reaches ``threshold`` (or when no
    threshold is set), else None ("nobody I know"); ``score`` is the best score either way
    (None only for an empty gallery). ``detection`` and ``quality`` (the face's
    :class:`~facerec.quality.FaceQuality`) are set when the query was an image.
    """

    matches: tuple[Match, ...]
    threshold: float | None
    detection: Detection | None = field(default=None)
    quality: "FaceQuality | None" = field(default=None, compare=False)

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None

    @property
    def score(self) -> float | None:
        return self.matches[0].score if self.matches else None

    @property
    def identity(self) -> str | None:
        best = self.best
        if best is None or (self.threshold is not None and best.score < self.threshold):
            return None
        return best.identity

    @property
    def known(self) -> bool:
        return self.identity is not None

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity,
                "score": None if self.score is None else round(float(self.score), 6),
                "threshold": self.threshold,
                "matches": [m.to_dict() for m in self.matches],
                "detection": None if self.detection is None else self.detection.to_dict(),
                **({} if self.quality is None else {"quality": self.quality.to_dict()})}


@dataclass(frozen=True)
class IdentityInfo:
    """What a gallery knows about one identity."""

    name: str
    num_templates: int
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "num_templates": self.num_templates, "metadata": self.metadata}


def check_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """A JSON-serialisable copy of per-identity metadata (``ValueError`` otherwise)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    try:
        return json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be JSON-serialisable: {exc}") from None


class GalleryBase(ABC):
    """Identity search over templates; see the module docstring. Not thread-safe."""

    #: Most neighbours one backend search may return (Milvus caps top-k).
    _max_neighbours: int = 1 << 62

    def __init__(self, recognizer: "FaceRecognizer | None" = None, *, dim: int | None = None,
                 model_id: str | None = None, aggregation: Aggregation = "max",
                 threshold: float | None = None, model_name: str | None = None,
                 detector_name: str | None = None) -> None:
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 1):
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self._aggregation: str = aggregation
        self._dim: int | None = None if dim is None else int(dim)
        self._model_id: str | None = model_id
        self._model_name: str | None = model_name
        self._detector_name: str | None = detector_name
        self.threshold = threshold  # validated by the setter
        self._recognizer: FaceRecognizer | None = None
        if recognizer is not None:
            self.attach(recognizer)

    # -- configuration ----------------------------------------------------------------------
    @property
    def dim(self) -> int | None:
        """Embedding dimension (None until known: no recognizer and nothing enrolled)."""
        return self._dim

    @property
    def model_id(self) -> str | None:
        """Fingerprint of the model whose embeddings this gallery holds (None: not recorded)."""
        return self._model_id

    @property
    def model_name(self) -> str | None:
        """Registry name of the model that built this gallery (``facerec models``): the recorded
        one, else the named model with :attr:`model_id`'s fingerprint; None for other models."""
        from facerec.models import model_name_of

        return model_name_of(self._model_id, self._model_name)

    @property
    def detector_name(self) -> str | None:
        """The named detector whose faces this gallery holds (recorded when the first recognizer
        is attached; None: not recorded). Another detector may search it: on LFW, SFace scores
        move by a few hundredths between yunet and mtcnn crops (benchmarks/RESULTS.md)."""
        return self._detector_name

    def _describe_model(self) -> str:
        name = self.model_name
        return f"{name} ({self._model_id})" if name else str(self._model_id)

    @property
    def aggregation(self) -> str:
        return self._aggregation

    @property
    def recognizer(self) -> "FaceRecognizer | None":
        return self._recognizer

    @property
    def threshold(self) -> float | None:
        """Open-set threshold: the configured one, else the attached recognizer's
        :attr:`~facerec.recognizer.FaceRecognizer.search_threshold`, else None (closed set:
        the best match is always returned)."""
        if self._threshold is not None:
            return self._threshold
        return self._recognizer.search_threshold if self._recognizer is not None else None

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        if value is not None:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"threshold must be finite, got {value}")
        self._threshold = value

    def attach(self, recognizer: "FaceRecognizer") -> None:
        """Use ``recognizer`` for image inputs; :class:`ModelError` if its model is not the one
        that made this gallery's embeddings."""
        self.check_model(recognizer.model_id, recognizer.embedder.embedding_size, what="the recognizer's model")
        detector = getattr(getattr(recognizer, "detector", None), "name", None)
        if self._detector_name is None:
            self._detector_name = detector
        elif detector is not None and detector != self._detector_name:
            log.info("this gallery was built with detector %s; searching with %s", self._detector_name, detector)
        self._recognizer = recognizer

    def check_model(self, model_id: str | None, dim: int | None, what: str = "the embeddings") -> None:
        """Raise :class:`ModelError` unless embeddings of ``model_id`` / ``dim`` may join this
        gallery; records both while the gallery has none yet."""
        if model_id is not None:
            if self._model_id is None and self.num_templates > 0:
                raise ModelError(f"{what}: model {model_id}, but this gallery's embeddings come from an "
                                 "unrecorded model (create galleries with model_id=... or a recognizer)")
            if self._model_id is not None and model_id != self._model_id:
                raise ModelError(f"{what}: model {model_id}, but this gallery was built with model "
                                 f"{self._describe_model()}; use that model for it (the CLI does when no "
                                 "--model or --weights is given), or enroll the photos again into a new gallery "
                                 "to move to another model: embeddings of two models cannot be mixed or converted")
        if dim is not None and self._dim is not None and int(dim) != self._dim:
            raise ModelError(f"{what}: {dim}-d embeddings, but this gallery holds {self._dim}-d embeddings")
        if model_id is not None and self._model_id is None:
            self._model_id = model_id
        if dim is not None and self._dim is None:
            self._dim = int(dim)

    # -- public API -------------------------------------------------------------------------
    def enroll(self, identity: str, inputs: GalleryInput, face: FaceChoice = None,
               metadata: dict[str, Any] | None = None, *, model_id: str | None = None, synth_views: int = 0,
               check: FaceCheck | None = None) -> int:
        """Add templates to ``identity`` (created if new); returns how many were added.

        ``inputs``: image(s) (need a recognizer) and/or embedding(s). An image must show one
        face: none raises :class:`NoFaceError`, several :class:`MultipleFacesError` unless
        ``face`` picks one (an index into the detections, highest score first, or
        ``"largest"``). ``metadata`` (JSON-serialisable) replaces the identity's metadata.
        ``model_id``: the model that made raw embeddings, checked against the gallery's.
        ``synth_views``: also enroll that many views of each image's face re-rendered at other
        yaws on a generic 3D face (:func:`facerec.pose.synthesis_yaws`; one-to-many).
        ``check(face, label)`` sees each image's chosen face (with its embedding and norm)
        before it is added and may raise to refuse it (e.g. a quality gate,
        :mod:`pipelines.enroll`); nothing is added then.
        """
        name = validate_identity(identity)
        vectors = self._templates_from(inputs, face, model_id, synth_views, check)
        meta = None if metadata is None else check_metadata(metadata)
        self._add(name, vectors, meta)
        log.debug("enrolled %d template(s) for %r", len(vectors), name)
        return len(vectors)

    def enroll_many(self, identities: Sequence[str], embeddings: np.ndarray, *, model_id: str | None = None) -> int:
        """Bulk enrollment of raw embeddings: row ``i`` of ``embeddings`` (N, D) becomes a template
        of ``identities[i]`` (names may repeat; new or existing identities). Much faster than one
        :meth:`enroll` per row for large galleries. Returns N."""
        names = [validate_identity(n) for n in identities]
        x = np.asarray(embeddings)
        if x.ndim != 2 or len(names) != len(x):
            raise ValueError(f"need one name per embedding row: {len(names)} names, embeddings of shape {x.shape}")
        self.check_model(model_id, x.shape[1], what="the enrolled embeddings")
        vectors = self._as_unit(x)
        if len(vectors):
            self._add_many(names, vectors)
        return len(vectors)

    def update(self, identity: str, inputs: GalleryInput, face: FaceChoice = None,
               metadata: dict[str, Any] | None = None, *, model_id: str | None = None) -> int:
        """Replace all templates of an existing ``identity`` (``KeyError`` if unknown);
        metadata is kept unless given. Returns the new number of templates."""
        name = validate_identity(identity)
        if name not in self:
            raise KeyError(f"no identity {name!r} in the gallery")
        vectors = self._templates_from(inputs, face, model_id)  # before touching the old ones
        meta = self.info(name).metadata if metadata is None else check_metadata(metadata)
        self._replace(name, vectors, meta)
        return len(vectors)

    def remove(self, identity: str) -> None:
        """Delete ``identity`` and all its templates (``KeyError`` if unknown)."""
        if not isinstance(identity, str) or identity not in self:
            raise KeyError(f"no identity {identity!r} in the gallery")
        self._remove(identity)

    def search(self, query: GalleryInput, k: int = 5, threshold: float | None = None) -> list[SearchResult]:
        """Who is this? One :class:`SearchResult` per query face, each with up to ``k``
        identities, best first.

        ``query``: an image (every detected face is searched in one batch; the results carry
        the detections, highest detector score first; no face gives ``[]``), one embedding
        ``(D,)`` or a batch ``(N, D)``. ``threshold`` overrides :attr:`threshold`.
        """
        if self._is_embeddings(query):
            return self.search_embeddings(query, k, threshold)
        rec = self._require_recognizer()
        faces = rec.faces(query)
        if not faces:
            return []
        emb = np.stack([f.embedding for f in faces])
        results = self.search_embeddings(emb, k, threshold)
        return [SearchResult(r.matches, r.threshold, f.detection, f.quality) for r, f in zip(results, faces)]

    def search_embeddings(self, embeddings: np.ndarray, k: int = 5, threshold: float | None = None,
                          *, model_id: str | None = None) -> list[SearchResult]:
        """:meth:`search` for raw embeddings ``(D,)`` or ``(N, D)``."""
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if model_id is not None and self._model_id is not None and model_id != self._model_id:
            raise ModelError(f"query embeddings come from model {model_id}, but this gallery holds {self._model_id}")
        thr = self.threshold if threshold is None else float(threshold)
        q = self._as_unit(embeddings)
        n_ident = len(self)
        if n_ident == 0 or len(q) == 0:
            return [SearchResult((), thr) for _ in range(len(q))]
        ranked = self._rank(q, min(int(k), n_ident))
        return [SearchResult(tuple(Match(n, s) for n, s in r), thr) for r in ranked]

    def info(self, identity: str) -> IdentityInfo:
        """Template count and metadata of ``identity`` (``KeyError`` if unknown)."""
        if not isinstance(identity, str) or identity not in self:
            raise KeyError(f"no identity {identity!r} in the gallery")
        return self._info(identity)

    # -- ranking ----------------------------------------------------------------------------
    def _rank(self, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Top-``k`` identities per query row (``k`` ≤ number of identities)."""
        k = min(k, self._max_neighbours)
        if self._aggregation == "mean":  # one row per identity: neighbours are identities
            return [hits[:k] for hits in self._search_rows(q, k)]
        rows = self.num_templates
        most = self._max_templates()
        cap = min(rows if most is None else min(rows, k * most), self._max_neighbours)
        kp = min(cap, k * max(1, -(-rows // len(self))))  # k × mean templates per identity
        out: list[list[tuple[str, float]] | None] = [None] * len(q)
        todo = np.arange(len(q))
        while len(todo):
            hits = self._search_rows(q[todo], kp)
            retry = []
            for i, h in zip(todo, hits):
                best: dict[str, float] = {}
                for name, score in h:  # descending: the first hit of a name is its max
                    if name not in best:
                        best[name] = score
                        if len(best) == k:
                            break
                if len(best) < k and kp < cap:
                    retry.append(i)
                else:
                    out[i] = list(best.items())
            todo = np.asarray(retry, dtype=np.int64)
            kp = min(cap, kp * 4)
        return out  # type: ignore[return-value]

    # -- inputs -----------------------------------------------------------------------------
    def _is_embeddings(self, x: object) -> bool:
        """A float array (D,) or (N, D) is embeddings; anything else is an image. A 2-D float
        array is taken as a grey image only when a recognizer is attached and its width is not
        the embedding dimension."""
        if not (isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)):
            return False
        if x.ndim == 1:
            return True
        return x.ndim == 2 and (self._recognizer is None or x.shape[1] == self._dim)

    def _as_unit(self, x: np.ndarray) -> np.ndarray:
        """Embeddings → (N, D) float32 unit rows; ``ModelError`` on a dimension mismatch."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2:
            raise ValueError(f"embeddings must be (D,) or (N, D), got shape {x.shape}")
        if self._dim is not None and x.shape[1] != self._dim:
            raise ModelError(f"{x.shape[1]}-d embeddings, but this gallery holds {self._dim}-d embeddings")
        if not np.isfinite(x).all():
            raise ValueError("embeddings contain NaN or infinity")
        if len(x) and (np.linalg.norm(x, axis=1) == 0).any():
            raise ValueError("an embedding is all zeros")
        return l2_normalize(x)

    def _require_recognizer(self) -> "FaceRecognizer":
        if self._recognizer is None:
            raise ModelError("images need a face recognizer: create or load the gallery with recognizer=...")
        return self._recognizer

    def _templates_from(self, inputs: GalleryInput, face: FaceChoice, model_id: str | None,
                        synth_views: int = 0, check: FaceCheck | None = None) -> np.ndarray:
        """(N, D) unit templates from images and/or embeddings."""
        items: Sequence[Any] = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if len(items) == 0:
            raise ValueError("nothing to enroll: give at least one image or embedding")
        parts = []
        for i, item in enumerate(items):
            if self._is_embeddings(item):
                self.check_model(model_id, item.shape[-1], what="the enrolled embeddings")
                parts.append(self._as_unit(item))
            else:
                label = os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"image {i}"
                parts.append(self._embed_one(item, face, label, synth_views, check))
        vectors = np.concatenate(parts)
        if len(vectors) == 0:
            raise ValueError("nothing to enroll: the embedding batch is empty")
        return vectors

    def _embed_one(self, image: ImageInput, face: FaceChoice, label: str, synth_views: int = 0,
                   check: FaceCheck | None = None) -> np.ndarray:
        """(1 + synth_views, D) embeddings of the one face ``face`` selects in ``image``: its
        crop, then its synthesised views."""
        rec = self._require_recognizer()
        if synth_views:
            image = load_image(image)  # the views are rendered from the photo itself
        faces = rec.faces(image, embed=False)
        if not faces:
            raise NoFaceError(f"{label}: no face found")
        if face is None:
            if len(faces) > 1:
                raise MultipleFacesError(f"{label}: {len(faces)} faces found; choose one with face=INDEX "
                                         "or face='largest'")
            chosen = faces[0]
        elif face == "largest":
            largest = choose_face([f.detection for f in faces], "largest")
            chosen = next(f for f in faces if f.detection is largest)
        elif isinstance(face, (int, np.integer)) and not isinstance(face, bool):
            if not 0 <= face < len(faces):
                raise ValueError(f"{label}: face index {face} out of range ({len(faces)} face(s) found)")
            chosen = faces[int(face)]
        else:
            raise ValueError(f"face must be None, an index or 'largest', got {face!r}")
        crops = [chosen.crop]
        if synth_views:
            from facerec.pose import face_views, synthesis_yaws

            crops += face_views(image, chosen.detection.landmarks, synthesis_yaws(synth_views),
                                rec.embedder.preprocessing.template)
        emb, norms = rec.embed_crops(np.stack(crops))
        if check is not None:  # with its embedding: the raw norm is a quality signal
            check(Face(chosen.detection, chosen.crop, emb[0], norms[0]), label)
        return self._as_unit(emb)

    # -- storage primitives (backends) --------------------------------------------------------
    @abstractmethod
    def identities(self) -> list[str]:
        """All identity names, in enrollment order (an updated identity counts as enrolled last)."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of identities."""

    @abstractmethod
    def __contains__(self, identity: object) -> bool: ...

    @property
    @abstractmethod
    def num_templates(self) -> int:
        """Number of stored templates (all identities)."""

    @abstractmethod
    def _info(self, name: str) -> IdentityInfo: ...

    @abstractmethod
    def _add(self, name: str, vectors: np.ndarray, metadata: dict[str, Any] | None) -> None:
        """Append unit ``vectors`` (N, D) to ``name`` (new or existing); metadata None keeps the old."""

    def _add_many(self, names: list[str], vectors: np.ndarray) -> None:
        """Append row ``i`` of ``vectors`` to ``names[i]``; backends may do this in one write."""
        groups: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            groups.setdefault(n, []).append(i)
        for n, rows in groups.items():
            self._add(n, vectors[rows], None)

    @abstractmethod
    def _replace(self, name: str, vectors: np.ndarray, metadata: dict[str, Any]) -> None:
        """Make ``vectors`` the only templates of the existing ``name``."""

    @abstractmethod
    def _remove(self, name: str) -> None: ...

    @abstractmethod
    def _search_rows(self, q: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Up to ``k`` nearest indexed rows per query (unit (M, D)) as (identity, score), best first.
        Rows are templates for "max" aggregation, identity means for "mean"."""

    def _max_templates(self) -> int | None:
        """Most templates of any one identity, or None if the backend cannot tell cheaply."""
        return None
