"""The CLI in-process on real LFW images: detect, verify, errors as one line."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pipelines.cli import main


def test_detect_json_one_face_five_landmarks(aaron, capsys, tmp_path):
    out_img = tmp_path / "annotated.png"
    assert main(["detect", str(aaron), "--json", "--annotate", str(out_img)]) == 0
    doc = json.loads(capsys.readouterr().out)
    (face,) = doc["faces"]
    assert set(face["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    # yunet's scores of clear faces lie around 0.9 (0.92 here; its threshold is 0.6), MTCNN's near 1.
    assert face["score"] > 0.8 and 60 < face["box"][0] < face["box"][2] < 190
    assert Image.open(out_img).size == (250, 250)


def test_detect_text(aaron, capsys):
    assert main(["detect", str(aaron)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 face(s)") and "landmarks" in out


def test_verify_json(aaron, lfw_dir, random_model, capsys):
    """The CLI's answer for two different photos equals the library's, computed separately from
    the two embeddings (not an image against itself, which would score 1 whatever the code)."""
    from facerec import FaceRecognizer

    b = lfw_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"
    assert main(["verify", str(aaron), str(b), "--weights", str(random_model), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rec = FaceRecognizer.load(random_model)
    ea, eb = rec.face(aaron).embedding, rec.face(b).embedding
    score = float(ea @ eb / (np.linalg.norm(ea) * np.linalg.norm(eb)))
    assert set(doc) == {"same", "score", "threshold", "quality"} and doc["threshold"] == 0.5
    assert doc["quality"]["a"] == rec.face(aaron).quality.to_dict()  # each face's quality, beside the score
    assert abs(doc["score"] - score) < 1e-5 and doc["same"] == (score >= 0.5) and score < 0.999


@pytest.mark.parametrize("case", ["missing", "text", "noface", "badweights"])
def test_errors_are_one_line(case, aaron, random_model, tmp_path, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    args = {"missing": ["verify", str(tmp_path / "nope.jpg"), str(aaron), "--weights", str(random_model)],
            "text": ["detect", str(text)],
            "noface": ["verify", str(blank), str(aaron), "--weights", str(random_model)],
            "badweights": ["verify", str(aaron), str(aaron), "--weights", str(text)]}[case]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err and "Traceback" not in err


def test_help_mentions_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "detect" in out and "verify" in out
