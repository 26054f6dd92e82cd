"""`make demo` (pipelines.demo) on the real LFW and ORL faces with the default model.

Floors come from the demo's measured output with the default model `sface` (2026-12-02, AMD
EPYC: 8/8 LFW pairs, ORL rank-1 50/50 with the open-set threshold on, 15/15 never-enrolled probes
rejected), less a margin of one pair / two probes for scores near a threshold moving between CPUs;
the truth is the datasets' own labels.
"""
from __future__ import annotations

import pytest

from facerec import FaceRecognizer
from pipelines import demo


@pytest.fixture(scope="module")
def recognizer(installed_model) -> FaceRecognizer:
    installed_model()
    return FaceRecognizer.load()


def test_demo_verification_and_gallery_on_real_faces(recognizer, data_dir, capsys):
    acc = demo.demo_verify(recognizer, data_dir, 4)
    rank1, rejected = demo.demo_gallery(recognizer, data_dir, people=10, unknown=5)
    out = capsys.readouterr().out
    assert acc >= 0.875, out
    assert rank1 >= 0.96, out
    assert rejected >= 0.86, out  # 5 strangers x 3 photos: the calibrated search threshold turns them away
    assert out.count(" vs ") == 8 and out.count(" identified  [") == 10


def test_demo_main_exit_codes(data_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FACEREC_DATA_DIR", str(data_dir))
    assert demo.main(["--pairs", "1", "--people", "2", "--unknown", "1"]) == 0
    assert "Summary: LFW pairs" in capsys.readouterr().out
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "missing"))
    assert demo.main([]) == 2
    assert "face data not found" in capsys.readouterr().err
