"""The one home for onnxruntime sessions: options chosen for a cheap first call, and the
facerec metadata stored in exported models.

No work at import: ``onnxruntime`` itself is imported by :func:`open_session`.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from facerec.errors import ModelError

log = logging.getLogger(__name__)

#: onnxruntime intra-op threads; 0 = one per core (onnxruntime's default). ``FACEREC_ORT_THREADS``
#: overrides it (e.g. 1 per worker in a multi-process service).
THREADS_ENV = "FACEREC_ORT_THREADS"
#: The checkpoint's whole metadata dict (fingerprint, threshold, search_threshold...), as JSON.
METADATA_KEY = "facerec.metadata"
#: The version of the ``facerec.*`` metadata block facerec writes into an ONNX file, under
#: :data:`FORMAT_KEY`. Files without it (exports before the key existed) are version 0 and read
#: through the older keys; a newer version is refused (:func:`check_metadata_format`).
METADATA_FORMAT = 1
FORMAT_KEY = "facerec.format"


def open_session(path: str | os.PathLike | bytes, threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU for ``path`` (or a serialised model's
    ``bytes``, e.g. a graph rewritten in memory).

    Options, for a CLI that runs a handful of inferences then exits: all graph optimisations
    (measured: +10 ms CPU to create the embedder's session, −25 % CPU per MobileFaceNet crop
    against the basic level), no weight prepacking (see below), no thread spinning after a
    call (spinning burns CPU time that a shared machine or the next stage could use), and
    ``threads`` intra-op threads (default: ``$FACEREC_ORT_THREADS`` or one per core).
    """
    if not isinstance(path, bytes):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
    source = path if isinstance(path, bytes) else str(path)
    name = "in-memory model" if isinstance(path, bytes) else str(path)
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("ONNX models need onnxruntime: pip install onnxruntime") from None
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    n = threads if threads is not None else int(os.environ.get(THREADS_ENV) or 0)
    opts.intra_op_num_threads = max(0, n)
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No weight prepacking: it costs ~70 ms of the ~200 ms it takes to open SFace's session
    # (a third of a cold `facerec verify`), and measured no faster per crop at batch 32 after
    # it (SFace 17.6 vs 16.3 ms, MobileFaceNet 9.2 vs 9.6 ms, AMD EPYC, 2 threads).
    opts.add_session_config_entry("session.disable_prepacking", "1")
    opts.log_severity_level = 3  # errors only: no warnings about unused initializers on stderr
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # InvalidProtobuf, Fail, NoSuchFile...
        first = (str(exc).splitlines() or [""])[0][:200]
        raise ModelError(f"{name}: cannot load ONNX model ({type(exc).__name__}: {first})") from None


def make_batchable(graph: Any) -> None:
    """Edit an ONNX ``GraphProto`` in place so onnxruntime runs it batched and folds its
    constants: weights that the graph also declares as inputs (opset-11 style, as OpenCV Zoo's
    SFace does) stop being inputs, and the first dimension of every input and output becomes
    the symbolic ``N``."""
    weights = {i.name for i in graph.initializer}
    data = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(data)
    for v in list(graph.input) + list(graph.output):
        dim = v.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "N"


def file_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, read with the ``onnx`` package (no session)."""
    try:
        import onnx
    except ImportError:
        raise ModelError("reading ONNX models on torch needs the onnx package: pip install onnx") from None
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError, OSError...
        raise ModelError(f"{path}: cannot load ONNX model ({type(exc).__name__})") from None
    return {p.key: p.value for p in proto.metadata_props}


def describe_model(props: dict[str, str], name: str) -> tuple[Any, int, str, dict[str, Any]]:
    """``(preprocessing, embedding_size, backbone name, metadata)`` of a facerec ONNX model from
    its ``metadata_props``; :class:`ModelError` if they are not a facerec embedder's."""
    from facerec.runtime.preprocessing import Preprocessing

    check_metadata_format(props, name)
    try:
        pre = Preprocessing.from_dict(json.loads(props["facerec.preprocessing"]))
        dim = int(props["facerec.embedding_size"])
        meta = checkpoint_metadata(props)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{name}: not a facerec embedder export ({type(exc).__name__}: {exc})") from None
    if not meta.get("fingerprint"):
        raise ModelError(f"{name}: no model fingerprint in the ONNX metadata (re-export it)")
    return pre, dim, props.get("facerec.backbone", "onnx"), meta


def check_metadata_format(props: dict[str, str], name: str) -> int:
    """The metadata block's format version (0: none recorded); :class:`ModelError` if it is not
    a number or is newer than :data:`METADATA_FORMAT`."""
    raw = props.get(FORMAT_KEY, "0")
    try:
        version = int(raw)
    except ValueError:
        raise ModelError(f"{name}: {FORMAT_KEY} is {raw!r}, not a version number") from None
    if version > METADATA_FORMAT:
        raise ModelError(f"{name}: exported by a newer facerec (metadata format {version}; this one reads "
                         f"{METADATA_FORMAT}): upgrade facerec")
    return version


def session_metadata(session: Any) -> dict[str, str]:
    """The ``metadata_props`` of a loaded model (str → str)."""
    return dict(session.get_modelmeta().custom_metadata_map)


def checkpoint_metadata(props: dict[str, str]) -> dict[str, Any]:
    """The embedder checkpoint's metadata recorded at export (:data:`METADATA_KEY`); older
    exports only carry ``facerec.fingerprint`` and ``facerec.threshold``."""
    if METADATA_KEY in props:
        meta = json.loads(props[METADATA_KEY])
        if not isinstance(meta, dict):
            raise ModelError(f"{METADATA_KEY} is not a JSON object")
        return meta
    meta: dict[str, Any] = {}
    if "facerec.fingerprint" in props:
        meta["fingerprint"] = props["facerec.fingerprint"]
    if "facerec.threshold" in props:
        meta["threshold"] = float(props["facerec.threshold"])
    return meta
