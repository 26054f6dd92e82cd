"""A remote facerec service (``facerec serve``) behind the local API's method names.

Code written against :class:`~facerec.FaceRecognizer` and :class:`~facerec.gallery.Gallery`
moves to a server by changing the line that makes them::

    rec = gallery = FaceRecognitionClient("http://127.0.0.1:8000", api_key=KEY, gallery="staff")
    rec.verify("a.jpg", "b.jpg").same           # VerificationResult, as FaceRecognizer.verify
    gallery.enroll("Ada", ["ada1.jpg", "ada2.jpg"])
    gallery.search("group.jpg", k=3)[0].identity  # SearchResult, as Gallery.search

HTTP only (``requests``); nothing runs a model here. Images may be paths, bytes, PIL images
or arrays (sent as the file's bytes, or losslessly as PNG); raw embeddings are not accepted
remotely. Errors raise the local exception types: :class:`ImageError`, :class:`NoFaceError`,
:class:`MultipleFacesError`, :class:`ModelError`, ``KeyError`` for an unknown identity or
gallery, ``ValueError`` for invalid arguments, with the service's ``status`` and ``code``
attached; :class:`AuthenticationError` for a missing or wrong key and :class:`RemoteError`
for everything else (unreachable service, server faults).
"""
from __future__ import annotations

import io
import json
import os
from typing import Any, Sequence, Union
from urllib.parse import quote

import numpy as np
import requests
from PIL import Image

from facerec.errors import FacerecError, ImageError, ModelError, MultipleFacesError, NoFaceError
from facerec.gallery.base import FaceChoice, GalleryError, IdentityInfo, Match, SearchResult
from facerec.io.image import ImageInput, load_image
from facerec.types import LANDMARK_NAMES, Detection, VerificationResult

__all__ = ["AuthenticationError", "FaceRecognitionClient", "RemoteError"]


class RemoteError(FacerecError):
    """The service could not be reached or failed (``status``/``code`` as it answered;
    ``status`` 0 when there was no answer)."""

    def __init__(self, message: str, status: int = 0, code: str = "unreachable") -> None:
        super().__init__(message)
        self.status, self.code = status, code


class AuthenticationError(RemoteError):
    """A write was refused: no API key, or not one the service accepts (401)."""


#: The service's error codes → the exception the local API raises for the same mistake.
_ERRORS: dict[str, type[Exception]] = {
    "image_invalid": ImageError, "payload_too_large": ImageError, "no_face": NoFaceError,
    "multiple_faces": MultipleFacesError, "model_error": ModelError, "gallery_error": GalleryError,
    "not_found": KeyError, "validation_error": ValueError, "unauthorized": AuthenticationError,
}

ClientImage = Union[ImageInput, Sequence[ImageInput]]


def _detection(d: dict[str, Any]) -> Detection:
    """Inverse of :meth:`Detection.to_dict`."""
    return Detection(box=np.asarray(d["box"], dtype=np.float32), score=float(d["score"]),
                     landmarks=np.asarray([d["landmarks"][n] for n in LANDMARK_NAMES], dtype=np.float32))


def _search_result(r: dict[str, Any]) -> SearchResult:
    """Inverse of :meth:`SearchResult.to_dict`."""
    from facerec.quality import FaceQuality

    return SearchResult(matches=tuple(Match(m["identity"], float(m["score"])) for m in r["matches"]),
                        threshold=None if r["threshold"] is None else float(r["threshold"]),
                        detection=None if r["detection"] is None else _detection(r["detection"]),
                        quality=FaceQuality.from_dict(r["quality"]) if r.get("quality") else None)


def _upload(image: ImageInput, default_name: str) -> tuple[str, bytes]:
    """(file name, bytes) to send: files as they are, in-memory images as lossless PNG."""
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        try:
            with open(path, "rb") as f:
                return os.path.basename(path), f.read()
        except OSError as exc:
            raise ImageError(f"{path}: {exc.strerror or exc}") from None
    if isinstance(image, (bytes, bytearray)):
        return default_name, bytes(image)
    if isinstance(image, np.ndarray) and image.ndim == 1:
        raise ValueError("the service takes images, not embeddings")
    rgb = load_image(image)  # PIL or array → (H, W, 3) uint8, validated locally
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return f"{default_name}.png", buf.getvalue()


class FaceRecognitionClient:
    """Client of a ``facerec serve`` service; see the module docstring.

    ``gallery``: the named gallery that :meth:`enroll`, :meth:`search`, :meth:`remove` and
    :meth:`identities` use (:meth:`with_gallery` gives a client for another one).
    ``api_key``: sent with writes as ``X-API-Key``. ``timeout``: seconds per request.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, gallery: str = "default",
                 timeout: float = 60.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.gallery = gallery
        self.timeout = timeout
        self._session = session or requests.Session()

    def with_gallery(self, gallery: str) -> "FaceRecognitionClient":
        """A client for another gallery of the same service (sharing the connection pool)."""
        return FaceRecognitionClient(self.base_url, self.api_key, gallery=gallery, timeout=self.timeout,
                                     session=self._session)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "FaceRecognitionClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, write: bool = False, **kwargs: Any) -> Any:
        headers = {"X-API-Key": self.api_key} if write and self.api_key else {}
        try:
            resp = self._session.request(method, self.base_url + path, headers=headers, timeout=self.timeout,
                                         **kwargs)
        except requests.RequestException as exc:
            raise RemoteError(f"{method} {self.base_url}{path}: {exc}") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.ok:
            return body
        err = body.get("error") if isinstance(body, dict) else None
        code = err.get("code", "") if isinstance(err, dict) else ""
        message = err.get("message", resp.reason) if isinstance(err, dict) else f"HTTP {resp.status_code} {resp.reason}"
        cls = _ERRORS.get(code, RemoteError)
        if issubclass(cls, RemoteError):
            raise cls(message, resp.status_code, code or "http_error")
        exc = cls(message)
        exc.status, exc.code = resp.status_code, code  # type: ignore[attr-defined]
        raise exc

    def _gallery_path(self, suffix: str = "") -> str:
        return f"/v1/galleries/{quote(self.gallery, safe='')}{suffix}"

    @staticmethod
    def _identity_path(identity: str) -> str:
        if not isinstance(identity, str):
            raise ValueError(f"identity name must be a string, got {type(identity).__name__}")
        # Dots too, so "." and ".." stay names and are not resolved as path segments.
        return "/identities/" + quote(identity, safe="").replace(".", "%2E")

    # -- FaceRecognizer's methods -------------------------------------------------------------
    def detect(self, image: ImageInput) -> list[Detection]:
        """All faces in ``image``, highest score first (as :meth:`FaceRecognizer.detect`)."""
        body = self._request("POST", "/v1/detect", files={"image": _upload(image, "image")})
        return [_detection(d) for d in body["faces"]]

    def verify(self, a: ImageInput, b: ImageInput, threshold: float | None = None) -> VerificationResult:
        """Are the largest faces of ``a`` and ``b`` the same person? (as :meth:`FaceRecognizer.verify`)"""
        params = {} if threshold is None else {"threshold": float(threshold)}
        body = self._request("POST", "/v1/verify", params=params,
                             files={"image_a": _upload(a, "image_a"), "image_b": _upload(b, "image_b")})
        return VerificationResult(same=bool(body["same"]), score=float(body["score"]),
                                  threshold=float(body["threshold"]))

    # -- Gallery's methods ---------------------------------------------------------------------
    def enroll(self, identity: str, inputs: ClientImage, face: FaceChoice = None,
               metadata: dict[str, Any] | None = None) -> int:
        """Add photos of ``identity`` (created if new); returns how many templates were added.
        All or nothing: one bad photo fails the whole request (as :meth:`Gallery.enroll`)."""
        items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not items:
            raise ValueError("nothing to enroll: give at least one image")
        files = [("images", _upload(x, f"image{i}")) for i, x in enumerate(items)]
        params = {} if face is None else {"face": str(face)}
        data = {} if metadata is None else {"metadata": json.dumps(metadata, allow_nan=False)}
        body = self._request("POST", self._gallery_path(self._identity_path(identity)), write=True,
                             params=params, files=files, data=data)
        return int(body["templates"])

    def search(self, query: ImageInput, k: int = 5, threshold: float | None = None) -> list[SearchResult]:
        """One :class:`SearchResult` per face in ``query`` (as :meth:`Gallery.search`)."""
        params: dict[str, Any] = {"k": int(k)}
        if threshold is not None:
            params["threshold"] = float(threshold)
        body = self._request("POST", self._gallery_path("/search"), params=params,
                             files={"image": _upload(query, "image")})
        return [_search_result(r) for r in body["faces"]]

    def remove(self, identity: str) -> None:
        """Delete ``identity`` and all its templates (``KeyError`` if unknown)."""
        self._request("DELETE", self._gallery_path(self._identity_path(identity)), write=True)

    def _listing(self) -> dict[str, Any]:
        return self._request("GET", self._gallery_path("/identities"))

    def identities(self) -> list[str]:
        """All identity names, in enrollment order."""
        return [p["name"] for p in self._listing()["people"]]

    def info(self, identity: str) -> IdentityInfo:
        """Template count and metadata of ``identity`` (``KeyError`` if unknown)."""
        for p in self._listing()["people"]:
            if p["name"] == identity:
                return IdentityInfo(p["name"], int(p["num_templates"]), dict(p["metadata"]))
        raise KeyError(f"no identity {identity!r} in the gallery")

    def __len__(self) -> int:
        return int(self._listing()["identities"])

    def __contains__(self, identity: object) -> bool:
        return identity in self.identities()

    # -- the service ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The service's ``/healthz``: model id, threshold, galleries, limits."""
        return self._request("GET", "/healthz")

    def galleries(self) -> list[str]:
        """Names of the service's galleries."""
        return [g["name"] for g in self._request("GET", "/v1/galleries")["galleries"]]
