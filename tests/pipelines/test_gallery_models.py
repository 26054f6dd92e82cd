"""Old galleries keep working when the default model changes: a gallery built with
``facerec-mbf-v2`` is searched and enrolled into with that model, without a flag, through the
CLI and the service; another model is refused with a message that says what to do.

The oracle for "which model answered" is the gallery's own saved fingerprint and the library
called directly with the named model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facerec import FaceRecognizer
from facerec.gallery import Gallery, gallery_model
from facerec.gallery.storage import current_version
from pipelines.cli import main

OLD = "facerec-mbf-v2"


def _photos(orl_dir: Path, person: str, idx: range) -> list[str]:
    return [str(orl_dir / person / f"{i}.pgm") for i in idx]


@pytest.fixture(params=["recorded", "fingerprint-only"])
def old_gallery(request, orl_dir, tmp_path, monkeypatch, installed_model) -> Path:
    """A gallery built with the old model; 'fingerprint-only' strips the recorded name, as a
    gallery saved before models had names (the registry maps its fingerprint back)."""
    installed_model(OLD)
    installed_model("sface")
    monkeypatch.delenv("FACEREC_MODEL", raising=False)  # the default is sface
    g = tmp_path / "people"
    assert main(["enroll", "--gallery", str(g), "s1", *_photos(orl_dir, "s1", range(1, 4)), "--model", OLD]) == 0
    if request.param == "fingerprint-only":
        meta_path = current_version(g) / "gallery.json"
        meta = json.loads(meta_path.read_text())
        meta.pop("model_name")
        meta_path.write_text(json.dumps(meta))
    return g


def test_cli_uses_the_gallery_model_without_a_flag(old_gallery, orl_dir, capsys):
    assert gallery_model(old_gallery) == OLD
    assert main(["enroll", "--gallery", str(old_gallery), "s2", *_photos(orl_dir, "s2", range(1, 4))]) == 0
    capsys.readouterr()
    assert main(["search", "--gallery", str(old_gallery), _photos(orl_dir, "s2", range(5, 6))[0], "--json",
                 "--threshold", "-1"]) == 0
    (face,) = json.loads(capsys.readouterr().out)["faces"]
    # the score is the old model's: recompute it with the library and that model, directly
    rec = FaceRecognizer.load(model=OLD)
    probe = rec.face(_photos(orl_dir, "s2", range(5, 6))[0]).embedding
    enrolled = np.stack([rec.face(p).embedding for p in _photos(orl_dir, "s2", range(1, 4))])
    assert face["matches"][0]["identity"] == "s2"
    assert face["matches"][0]["score"] == pytest.approx(float((enrolled @ probe).max()), abs=1e-4)
    assert main(["gallery", "list", "--gallery", str(old_gallery), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == OLD and info["model_id"] == rec.model_id and info["identities"] == 2


def test_another_model_is_refused_with_what_to_do(old_gallery, orl_dir, capsys):
    rc = main(["search", "--gallery", str(old_gallery), _photos(orl_dir, "s1", range(5, 6))[0], "--model", "sface"])
    err = capsys.readouterr().err
    assert rc == 2 and OLD in err and "enroll the photos again" in err


def test_service_uses_each_gallery_model(old_gallery, orl_dir):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from pipelines.serve import ServeConfig, create_app

    app = create_app(ServeConfig(gallery_dir=old_gallery.parent, auth=False, workers=1), FaceRecognizer.load())
    client = TestClient(app, raise_server_exceptions=False)
    listing = client.get("/v1/galleries").json()["galleries"]
    assert listing == [{"name": "people", "identities": 1, "templates": 3, "model": OLD,
                        "model_id": Gallery.load(old_gallery).model_id}]
    files = [("images", (Path(p).name, Path(p).read_bytes(), "image/x-portable-graymap"))
             for p in _photos(orl_dir, "s3", range(1, 4))]
    assert client.post("/v1/galleries/people/identities/s3", files=files).status_code == 200
    probe = _photos(orl_dir, "s3", range(6, 7))[0]
    res = client.post("/v1/galleries/people/search?threshold=-1",
                      files={"image": ("p.pgm", Path(probe).read_bytes(), "image/x-portable-graymap")})
    assert res.status_code == 200
    assert res.json()["faces"][0]["matches"][0]["identity"] == "s3"
    # the new gallery made by the service uses the server's model (the default)
    files = [("images", (Path(p).name, Path(p).read_bytes(), "image/x-portable-graymap"))
             for p in _photos(orl_dir, "s4", range(1, 2))]
    assert client.post("/v1/galleries/fresh/identities/s4", files=files).status_code == 200
    fresh = {g["name"]: g for g in client.get("/v1/galleries").json()["galleries"]}["fresh"]
    assert fresh["model"] == "sface"
    assert client.get("/v1/galleries/people/identities").json()["model"] == OLD


def _model_args(*argv: str):
    import argparse

    from pipelines.cli.args import add_model_args

    p = argparse.ArgumentParser()
    add_model_args(p)
    return p.parse_args(list(argv))


@pytest.mark.parametrize("old_gallery", ["recorded"], indirect=True)  # the record's two forms: tests above
def test_cli_model_precedence_flag_env_gallery_cluster_default(old_gallery, tmp_path, monkeypatch):
    """The CLI's one rule (choose_model) at each source: the gallery's record beats the default,
    $FACEREC_MODEL beats the record, --model beats both; a gallery not saved yet takes the
    record passed in (what enroll --cluster passes: the cluster's model)."""
    from pipelines.cli.args import load_recognizer

    new = tmp_path / "new-gallery"  # nothing saved there yet
    assert load_recognizer(_model_args(), gallery=old_gallery).model_name == OLD  # recorded > default
    assert load_recognizer(_model_args(), gallery=new).model_name == "sface"  # default
    assert load_recognizer(_model_args(), gallery=new, recorded=OLD).model_name == OLD  # the cluster's record
    assert load_recognizer(_model_args("--model", "sface"), gallery=new, recorded=OLD).model_name == "sface"
    monkeypatch.setenv("FACEREC_MODEL", "sface")
    assert load_recognizer(_model_args(), gallery=new, recorded=OLD).model_name == "sface"  # env > record
    assert load_recognizer(_model_args(), gallery=old_gallery).model_name == "sface"  # env > the gallery's record
    monkeypatch.setenv("FACEREC_MODEL", OLD)
    assert load_recognizer(_model_args("--model", "sface")).model_name == "sface"  # flag > env


@pytest.mark.parametrize("old_gallery", ["fingerprint-only"], indirect=True)
def test_env_outranks_the_gallery_record_everywhere(old_gallery, orl_dir, capsys, monkeypatch):
    """$FACEREC_MODEL naming another model than the gallery's is refused with what to do, by
    the CLI and by the service (env, or an explicit server model, beats each gallery's record)."""
    monkeypatch.setenv("FACEREC_MODEL", "sface")
    rc = main(["search", "--gallery", str(old_gallery), _photos(orl_dir, "s1", range(5, 6))[0]])
    err = capsys.readouterr().err
    assert rc == 2 and OLD in err and "enroll the photos again" in err
    pytest.importorskip("fastapi")
    from facerec.errors import ModelError
    from pipelines.serve import ServeConfig, create_app

    config = ServeConfig(gallery_dir=old_gallery.parent, auth=False, workers=1)
    with pytest.raises(ModelError, match=OLD):
        create_app(config, FaceRecognizer.load())
    monkeypatch.delenv("FACEREC_MODEL")
    with pytest.raises(ModelError, match=OLD):
        create_app(config, FaceRecognizer.load(model="sface"), pinned=True)  # facerec serve --model sface
    create_app(config, FaceRecognizer.load(model="sface"))  # not pinned: the gallery keeps its model
