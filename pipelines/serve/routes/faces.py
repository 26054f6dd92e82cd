"""``/v1/detect`` and ``/v1/verify``: the answers of ``facerec detect --json`` and
``facerec verify --json`` for uploaded photos."""
from __future__ import annotations

import base64
import io
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, File, Query, UploadFile
from PIL import Image

from ...detect import detect_faces
from ...verify import verify_pair
from ..deps import ReadCaller, State, read_upload
from ..errors import error_responses

router = APIRouter(tags=["faces"])


def png_base64(crop: np.ndarray) -> str:
    """(H, W, 3) uint8 → base64 PNG (for showing aligned crops on the page)."""
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


@router.post("/v1/detect", summary="Detect faces: boxes, scores, 5 landmarks",
             responses=error_responses(400, 401, 413, 422, 429))
async def detect(state: State, caller: ReadCaller,
                 image: Annotated[UploadFile, File(description="the photo")]) -> dict[str, Any]:
    name, data = await read_upload(image, "image")

    def work() -> dict[str, Any]:
        dets = detect_faces(state.decode(data, name), state.recognizer.detector)  # type: ignore[arg-type]
        return {"image": name, "faces": [d.to_dict() for d in dets]}

    return await state.run_on_images(caller, [data], work)


@router.post("/v1/verify", summary="Are two photos the same person?",
             responses=error_responses(400, 401, 409, 413, 422, 429))
async def verify(state: State, caller: ReadCaller,
                 image_a: Annotated[UploadFile, File(description="first photo (its largest face is used)")],
                 image_b: Annotated[UploadFile, File(description="second photo (its largest face is used)")],
                 threshold: Annotated[float | None, Query(ge=-1.0, le=1.0, description="decision threshold "
                                                                                       "(default: the model's)")] = None,
                 crops: Annotated[bool, Query(description="also return both aligned face crops as base64 PNG")] = False,
                 ) -> dict[str, Any]:
    (name_a, data_a), (name_b, data_b) = await read_upload(image_a, "image_a"), await read_upload(image_b, "image_b")

    def work() -> dict[str, Any]:
        a, b = state.decode(data_a, name_a), state.decode(data_b, name_b)
        result = verify_pair(state.recognizer, a, b, threshold)
        out: dict[str, Any] = result.to_dict()
        if crops and result.faces is not None:  # the faces verify compared: no second detection or embedding
            face_a, face_b = result.faces
            out["crops"] = {"a": png_base64(face_a.crop), "b": png_base64(face_b.crop)}
        return out

    return await state.run_on_images(caller, [data_a, data_b], work)
