"""The public entry point: :class:`FaceRecognizer` = detector + aligner + embedder.

Two runtimes, one pipeline: named models (:mod:`facerec.models`) run on onnxruntime + numpy
without importing torch (with MTCNN's ``mtcnn_*.onnx``), and any ``.pt`` checkpoint, a CUDA
device or bf16 run on torch. :func:`choose_runtime` is the rule.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence

import numpy as np

from facerec.alignment import align_face, center_crop_landmarks
from facerec.detection.bounded import create_detector, crop_face
from facerec.detection.detector import Detector, FaceSelect, choose_face
from facerec.errors import ModelError, MultipleFacesError, NoFaceError
from facerec.extras import require_torch
from facerec.io.image import ImageInput
from facerec.io.photo import Photo, open_photo
from facerec.runtime.preprocessing import Preprocessing
from facerec.similarity import cosine_similarity
from facerec.types import Detection, Face, VerificationResult

if TYPE_CHECKING:
    from facerec.runtime.embedder import Embedder
    from facerec.runtime.onnx_embedder import OnnxEmbedder

log = logging.getLogger(__name__)

Select = FaceSelect  # the one face-choice rule: facerec.detection.detector.choose_face
Runtime = Literal["auto", "onnx", "torch"]
RUNTIMES: tuple[str, ...] = ("auto", "onnx", "torch")


class EmbedderLike(Protocol):
    """What the recognizer needs of an embedder (torch :class:`~facerec.Embedder` or
    :class:`~facerec.runtime.onnx_embedder.OnnxEmbedder`)."""

    preprocessing: Preprocessing
    metadata: dict[str, Any]
    embedding_size: int
    backbone_name: str
    precision: str

    def fingerprint(self) -> str: ...

    def embed(self, crops: Any, batch_size: int = 64, flip: bool = False) -> np.ndarray: ...


def choose_runtime(weights: str | os.PathLike | None = None, runtime: str = "auto", device: str = "cpu",
                   precision: str = "fp32", model: str | None = None) -> tuple[str, Path]:
    """Which runtime runs which model file: ``(runtime, path)``.

    ``weights`` (a file) and ``model`` (a registry name) exclude each other; with neither,
    :func:`facerec.models.choose_model`'s choice (``$FACEREC_MODEL``, else the default). A named
    model runs on onnxruntime (``"auto"``: the fast, torch-free start) unless ``"torch"`` is
    asked for, the device is not the CPU or bf16 is asked for; on torch it loads its ``.pt``
    checkpoint or runs its ONNX graph as torch ops. ``.onnx`` weights run on onnxruntime
    (``"torch"``: as torch ops, for graphs :mod:`facerec.backbones.onnx_torch` supports), other weights
    (``.pt``) on torch.
    """
    from facerec.models import get_model

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if weights is not None and model:
        raise ModelError("give either weights (--weights PATH) or a named model (--model NAME), not both")
    wants_torch = runtime == "torch" or str(device) != "cpu" or precision == "bf16"
    if weights is not None:
        path = Path(weights)
        if path.suffix.lower() != ".onnx":
            if runtime == "onnx":
                raise ModelError(f"{path}: a .pt model runs on torch, not onnx "
                                 "(export it with: facerec export --weights W --out model.onnx)")
            return "torch", path
        return ("torch", path) if wants_torch else ("onnx", path)
    spec = get_model(model).require_installed()
    if runtime == "onnx" and wants_torch:
        raise ModelError("the onnx runtime runs fp32 on the CPU; use --runtime torch for another device or bf16")
    if wants_torch:
        return "torch", spec.torch_path()
    return "onnx", spec.onnx_path()


def load_embedder(weights: str | os.PathLike | None = None, *, model: str | None = None, runtime: str = "auto",
                  device: str = "cpu", **embedder_opts: Any) -> "EmbedderLike":
    """The embedder alone (no detector), on the runtime :func:`choose_runtime` picks: an
    :class:`~facerec.runtime.onnx_embedder.OnnxEmbedder` or a torch :class:`~facerec.runtime.embedder.Embedder`
    (``embedder_opts``: precision, channels_last). Without ``weights`` the model is
    :func:`facerec.models.choose_model`'s choice. A named model's file, however it was named,
    gets the registry's thresholds."""
    from facerec.models import choose_model

    name = None if weights is not None else choose_model(model)
    if weights is not None and model:
        raise ModelError("give either weights (--weights PATH) or a named model (--model NAME), not both")
    kind, path = choose_runtime(weights, runtime, device, str(embedder_opts.get("precision", "fp32")), name)
    log.info("runtime %s: %s", kind, path)
    embedder: Any
    if kind == "onnx":
        from facerec.runtime.onnx_embedder import OnnxEmbedder

        embedder = OnnxEmbedder(path)
    else:
        require_torch(f"the torch runtime ({path.name})")
        from facerec.runtime.embedder import Embedder

        embedder = Embedder.load(path, device=device, **embedder_opts)
    _use_registry_thresholds(embedder, name)
    return embedder


def _use_registry_thresholds(embedder: EmbedderLike, name: str | None) -> None:
    """A named model's thresholds are the registry's (their one home): set on the embedder of
    any file with a named model's fingerprint. ``name``: the model asked for, whose installed
    files must be the registered ones."""
    from facerec.models import get_model, thresholds_of

    if name is not None:
        spec = get_model(name)
        if embedder.fingerprint() != spec.fingerprint:
            raise ModelError(f"the installed files of model {spec.name!r} are not the registered ones (fingerprint "
                             f"{embedder.fingerprint()}, expected {spec.fingerprint}): run '{spec.install_command()}'")
    registered = thresholds_of(embedder.fingerprint())
    if registered is not None:
        embedder.metadata.update(registered)


class FaceRecognizer:
    """Image in, faces and embeddings out.

    >>> rec = FaceRecognizer.load()                      # doctest: +SKIP  (shipped model, ONNX)
    >>> rec.verify("a.jpg", "b.jpg").same                # doctest: +SKIP
    """

    def __init__(self, embedder: "Embedder | OnnxEmbedder | EmbedderLike", detector: Detector | None = None,
                 threshold: float | None = None, frontalize: bool = False) -> None:
        self.embedder = embedder
        self.frontalize = frontalize  # embed the frontal view of each face (facerec.pose)
        if detector is None:  # the default named detector (mtcnn would run on the embedder's runtime)
            detector = create_detector(runtime=self.runtime)
        self.detector = detector
        meta_thr = embedder.metadata.get("threshold")
        self._threshold = float(threshold) if threshold is not None else (
            float(meta_thr) if meta_thr is not None else None)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, model: str | None = None,
             threshold: float | None = None, detector: str | None = None, detector_config: Any = None,
             detect_side: int | None = None, device: str = "cpu", runtime: Runtime = "auto", frontalize: bool = False,
             **embedder_opts: Any) -> "FaceRecognizer":
        """Load a model with a named detector: ``weights`` (a ``.pt`` or ``.onnx`` file) or
        ``model`` (a registry name, see ``facerec models``); with neither, the default named model.

        ``detector``: a named detector (default ``$FACEREC_DETECTOR``, else the registry's), with
        its own settings ``detector_config`` and ``detect_side``, the longest side of the copy it
        detects on (:mod:`facerec.detection.bounded`; default: the detector's; 0: full resolution). MTCNN
        runs on the embedder's runtime.

        ``runtime``: see :func:`choose_runtime` (default: ONNX on the CPU for named models and
        ``.onnx`` files, torch for ``.pt`` files). ``embedder_opts`` go to :meth:`Embedder.load`
        (precision, channels_last) on torch; the ONNX path computes in fp32 and ignores them.
        ``frontalize``: embed each face's frontal view (:mod:`facerec.pose`).
        """
        from facerec.runtime.onnx_embedder import OnnxEmbedder  # light: onnxruntime is imported by its sessions only

        embedder = load_embedder(weights, model=model, runtime=runtime, device=device, **embedder_opts)
        on_onnx = isinstance(embedder, OnnxEmbedder)
        det = create_detector(detector, detector_config, "onnx" if on_onnx else "torch",
                              "cpu" if on_onnx else device, detect_side)
        return cls(embedder, det, threshold, frontalize)

    def with_model(self, model: str) -> "FaceRecognizer":
        """This recognizer (detector, runtime, options) with the named ``model``'s embedder:
        ``self`` when it already runs that model (e.g. for a gallery built with ``model``)."""
        if self.model_name == model:
            return self
        opts: dict[str, Any] = {}
        if self.runtime == "torch":
            emb: Any = self.embedder
            opts = {"device": str(emb.device), "precision": emb.precision, "channels_last": emb.channels_last}
        other = FaceRecognizer.load(model=model, runtime=self.runtime, **opts)  # type: ignore[arg-type]
        return FaceRecognizer(other.embedder, self.detector, frontalize=self.frontalize)

    @property
    def runtime(self) -> str:
        """``"onnx"`` or ``"torch"``: what runs the embedder."""
        from facerec.runtime.onnx_embedder import OnnxEmbedder  # light: onnxruntime is imported by its sessions only

        return "onnx" if isinstance(self.embedder, OnnxEmbedder) else "torch"

    @property
    def threshold(self) -> float:
        """Cosine threshold above which two faces are called the same person."""
        if self._threshold is None:
            raise ModelError("this model has no calibrated verification threshold; pass threshold=...")
        return self._threshold

    @property
    def search_threshold(self) -> float | None:
        """Open-set search threshold: the score a small stated share of impostor comparisons
        exceed (checkpoint metadata ``search_threshold``, calibrated on held-out identities);
        models without one fall back to the verification threshold; None when uncalibrated."""
        value = self.embedder.metadata.get("search_threshold")
        if value is not None:
            return float(value)
        return self._threshold

    @property
    def model_name(self) -> str | None:
        """The registry name of this model (``facerec models``), or None for other weights."""
        from facerec.models import model_name_of

        return model_name_of(self.model_id)

    @property
    def model_id(self) -> str:
        """Fingerprint of the embedding model (recorded by galleries); the same for a ``.pt``
        and its ONNX export."""
        return self.embedder.fingerprint()

    # -- faces ----------------------------------------------------------------------------
    def crop(self, image: "np.ndarray | Photo", landmarks: np.ndarray) -> np.ndarray:
        """The crop the embedder takes for the face with ``landmarks`` (5, 2) in the image's
        pixels: aligned to the model's template (from a :class:`~facerec.io.photo.Photo`, at the
        coarsest decoded level with the crop's resolution), frontalised when ``frontalize`` is set."""
        tpl = self.embedder.preprocessing.template
        if self.frontalize:
            from facerec.pose import frontalize_face  # imported on use: the plain path does not need it

            align: Any = frontalize_face
        else:
            align = align_face
        if isinstance(image, Photo):
            return crop_face(image, landmarks, tpl, align)
        return align(image, landmarks, tpl)

    def detect(self, image: "ImageInput | Photo") -> list[Detection]:
        """All faces in ``image``, in its pixels, highest score first (the bounded-cost rule:
        :mod:`facerec.detection.bounded`)."""
        return self.detector.detect(open_photo(image))

    def embed_crops(self, crops: "np.ndarray | Sequence[np.ndarray]", flip: bool = False,
                    batch_size: int = 64) -> tuple[np.ndarray, list[float | None]]:
        """(N, D) embeddings of aligned crops and each one's relative norm (the raw features'
        norm over the model's ``norm_ref``; None where the model has none): what
        :attr:`Face.norm` holds, a quality signal (:mod:`facerec.quality`)."""
        ref = self.embedder.metadata.get("norm_ref")
        with_norms = getattr(self.embedder, "embed_with_norms", None)
        if ref is None or with_norms is None:
            emb = self.embedder.embed(crops, batch_size=batch_size, flip=flip)
            return emb, [None] * len(emb)
        emb, norms = with_norms(crops, batch_size=batch_size, flip=flip)
        return emb, [float(n) / float(ref) if np.isfinite(n) else None for n in norms]

    def faces(self, image: "ImageInput | Photo", embed: bool = True, flip: bool = False) -> list[Face]:
        """All faces with their aligned crops (and embeddings unless ``embed=False``)."""
        photo = open_photo(image)
        dets = self.detector.detect(photo)
        crops = [self.crop(photo, d.landmarks) for d in dets]
        if not (embed and crops):
            return [Face(d, c) for d, c in zip(dets, crops)]
        embs, norms = self.embed_crops(crops, flip=flip)
        return [Face(d, c, e, n) for d, c, e, n in zip(dets, crops, embs, norms)]

    def embed(self, image: ImageInput, flip: bool = False) -> np.ndarray:
        """(N, D) embeddings of every face in ``image`` (N may be 0), highest score first."""
        faces = self.faces(image, flip=flip)
        if not faces:
            return np.zeros((0, self.embedder.embedding_size), dtype=np.float32)
        return np.stack([f.embedding for f in faces])

    def _one_face(self, image: "ImageInput | Photo", select: Select,
                  fallback_center: bool) -> tuple[Detection, np.ndarray]:
        """The chosen detection of ``image`` and its aligned crop (not embedded)."""
        photo = open_photo(image)
        dets = self.detector.detect(photo)
        w, h = photo.size
        tpl = self.embedder.preprocessing.template
        chosen = choose_face(dets, select, w, h)
        if chosen is not None:
            det = chosen
        elif fallback_center:
            lm = center_crop_landmarks(w, h, tpl)
            det = Detection(box=np.array([0, 0, w, h], np.float32), score=0.0, landmarks=lm)
        else:
            raise NoFaceError("no face found in the image")
        return det, self.crop(photo, det.landmarks)

    def face(self, image: ImageInput, select: Select = "largest", fallback_center: bool = False,
             flip: bool = False) -> Face:
        """Exactly one face of ``image``.

        ``select``: with several faces, take the ``"largest"`` box, the one nearest the image
        ``"central"`` (the LFW convention), or raise :class:`MultipleFacesError` (``"only"``).
        No face raises :class:`NoFaceError`, unless ``fallback_center`` aligns a fixed centre
        crop instead (for pre-cropped images; the returned detection then has score 0).
        """
        return self.face_batch([image], select, fallback_center, flip)[0]

    def face_batch(self, images: Sequence[ImageInput], select: Select = "largest", fallback_center: bool = False,
                   flip: bool = False, batch_size: int = 64) -> list[Face]:
        """:meth:`face` for many images: detection one image at a time, the embeddings in
        batches of ``batch_size`` (much cheaper than one call per image). The first image
        without a usable face raises (the exception's ``image_index`` says which), unless
        ``fallback_center``."""
        found: list[tuple[Detection, np.ndarray]] = []
        for i, image in enumerate(images):
            try:
                found.append(self._one_face(image, select, fallback_center))
            except (NoFaceError, MultipleFacesError) as exc:
                exc.image_index = i  # type: ignore[attr-defined]  # which input (message unchanged)
                raise
        if not found:
            return []
        embs, norms = self.embed_crops(np.stack([c for _, c in found]), flip=flip, batch_size=batch_size)
        return [Face(d, c, e, n) for (d, c), e, n in zip(found, embs, norms)]

    def verify(self, a: ImageInput, b: ImageInput, threshold: float | None = None, select: Select = "largest",
               fallback_center: bool = False, flip: bool = False) -> VerificationResult:
        """Are the (largest) faces of ``a`` and ``b`` the same person?

        Score: cosine similarity of the embeddings; ``same`` when score ≥ threshold
        (default: the model's calibrated threshold). ``fallback_center``: an image without a
        detected face uses a fixed centre crop (see :meth:`face`). The result's ``faces``
        holds the two faces compared (crops and embeddings), so callers need not detect again.
        """
        thr = self.threshold if threshold is None else float(threshold)
        fa, fb = self.face_batch([a, b], select, fallback_center, flip)
        score = float(cosine_similarity(fa.embedding, fb.embedding))
        return VerificationResult(same=score >= thr, score=score, threshold=thr, faces=(fa, fb))
