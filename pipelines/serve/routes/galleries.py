"""The named galleries: list, enroll, remove, search. Answers have the shapes of
``facerec gallery list --json``, ``facerec enroll --json`` and ``facerec search --json``.

Gallery bookkeeping that runs no model (locks, disk) uses Starlette's thread pool, so it
never queues behind inference; enrollment and search run in the inference pool.
"""
from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from facerec.gallery import Gallery

from ...enroll import EnrollReport, QualityGate, parse_face
from ..deps import GalleryName, IdentityName, ReadCaller, State, WriteCaller, read_upload, user_errors
from ..errors import ApiError, error_responses

router = APIRouter(tags=["galleries"])

#: Most files one enrollment request may carry.
MAX_ENROLL_FILES = 32


@router.get("/v1/galleries", summary="The galleries and their sizes", responses=error_responses(401, 429))
async def galleries(state: State, caller: ReadCaller) -> dict[str, Any]:
    sizes = await run_in_threadpool(state.store.sizes)
    return {"galleries": [{"name": n, "identities": i, "templates": t, "model": m, "model_id": fp}
                          for n, (i, t, m, fp) in sizes.items()]}


@router.get("/v1/galleries/{name}/identities", summary="Identities of a gallery", responses=error_responses(401, 404, 422, 429))
async def identities(state: State, caller: ReadCaller, name: GalleryName) -> dict[str, Any]:
    def work(g: Gallery) -> dict[str, Any]:
        # The shape of 'facerec gallery list --json', with the gallery's name for its folder.
        return {"gallery": name, "model": g.model_name, "model_id": g.model_id, "dim": g.dim, "index": g.index_type,
                "aggregation": g.aggregation, "threshold": g.threshold, "identities": len(g),
                "templates": g.num_templates, "people": [g.info(n).to_dict() for n in g.identities()]}

    return await run_in_threadpool(state.store.read, name, work)


@router.post("/v1/galleries/{name}/identities/{identity:path}", summary="Enroll photos of a person (needs an API key)",
             responses=error_responses(400, 401, 409, 413, 422, 429))
async def enroll(state: State, caller: WriteCaller, name: GalleryName, identity: IdentityName,
                 images: Annotated[list[UploadFile], File(description="photos of the person, one face each "
                                                                      "(or pick one with face=); at least one",
                                                          min_length=1, max_length=MAX_ENROLL_FILES)],
                 face: Annotated[str | None, Query(description="with several faces per photo: an index "
                                                               "(highest detector score first) or 'largest'",
                                                   pattern="^(largest|[0-9]+)$")] = None,
                 metadata: Annotated[str | None, Form(description="JSON object stored with the identity")] = None,
                 strict_quality: Annotated[bool, Query(description="refuse (422 low_quality) a photo whose face "
                                                                   "quality is below the calibrated threshold; "
                                                                   "otherwise it is enrolled and listed in "
                                                                   "'warnings' with the reasons")] = False,
                 ) -> dict[str, Any]:
    try:
        choice = parse_face(face, option="face")
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    meta = parse_metadata(metadata)
    uploads = [await read_upload(f, f"image {i}") for i, f in enumerate(images)]

    def work() -> dict[str, Any]:
        rgbs = [state.decode(data, fname) for fname, data in uploads]  # all decoded before the lock

        def change(g: Gallery) -> dict[str, Any]:
            gate = QualityGate(strict=strict_quality)
            labels = [fname for fname, _ in uploads]
            n = user_errors(lambda: g.enroll(identity, rgbs, face=choice, metadata=meta,
                                             check=lambda f, label: gate(f, _upload_label(label, labels))))
            report = EnrollReport({identity: n}, warnings=gate.warnings)
            return {**report.to_dict(), "gallery": name, "identities": len(g)}

        return state.store.write(name, change, create=True)

    return await state.run_on_images(caller, [data for _, data in uploads], work)


@router.delete("/v1/galleries/{name}/identities/{identity:path}",
               summary="Remove a person and all their photos (needs an API key)",
               responses=error_responses(401, 404, 422, 429))
async def remove(state: State, caller: WriteCaller, name: GalleryName, identity: IdentityName) -> dict[str, Any]:
    def change(g: Gallery) -> dict[str, Any]:
        n = user_errors(lambda: g.info(identity).num_templates)
        g.remove(identity)
        return {"gallery": name, "removed": identity, "templates": n, "identities": len(g)}

    return await run_in_threadpool(state.store.write, name, change)


@router.post("/v1/galleries/{name}/search", summary="Who is in this photo?",
             responses=error_responses(400, 401, 404, 409, 413, 422, 429))
async def search(state: State, caller: ReadCaller, name: GalleryName,
                 image: Annotated[UploadFile, File(description="the photo; every face is searched")],
                 k: Annotated[int, Query(ge=1, le=100, description="candidates per face")] = 5,
                 threshold: Annotated[float | None, Query(ge=-1.0, le=1.0, description="open-set threshold "
                                                                                       "(default: the gallery's)")] = None,
                 ) -> dict[str, Any]:
    fname, data = await read_upload(image, "image")

    def work() -> dict[str, Any]:
        rgb = state.decode(data, fname)
        results = state.store.read(name, lambda g: user_errors(lambda: g.search(rgb, k=k, threshold=threshold)))
        # The shape of 'facerec search --json'.
        return {"image": fname, "faces": [r.to_dict() for r in results]}

    return await state.run_on_images(caller, [data], work)


def parse_metadata(text: str | None) -> dict[str, Any] | None:
    """The ``metadata`` form field: a JSON object, or None when empty."""
    if text is None or not text.strip():
        return None
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise ApiError(422, "validation_error", f"metadata is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ApiError(422, "validation_error", "metadata must be a JSON object")
    return meta


def _upload_label(label: str, names: list[str]) -> str:
    """The gallery labels decoded uploads ``image I``: name them by their file names."""
    if label.startswith("image ") and label[6:].isdigit() and int(label[6:]) < len(names):
        return names[int(label[6:])]
    return label
