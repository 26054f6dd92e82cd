"""benchmarks/video_real.py's scoring: py-motmetrics fed through the benchmark's matching, on a
hand-made toy case whose MOTA, IDF1, switches and naming were worked out by hand below; and
the clip labels' crop/scale mapping."""
from __future__ import annotations

import pytest

pytest.importorskip("motmetrics")

from benchmarks.video_real import clip_truth, score  # noqa: E402


def _box(x: float, size: float = 50.0) -> list[float]:
    return [x, 10.0, x + size, 10.0 + size]


def test_toy_case_matches_hand_computed_metrics():
    # Two people over 4 frames, shots starting at frames 0 and 2. alice (enrolled) at x=0, bob
    # (a stranger) at x=100; a tiny face marked ignore at x=300 on frame 0.
    truth = {f: [(_box(0), "alice"), (_box(100), "bob")] for f in range(4)}
    truth[0].append((_box(300, 10), "ignore"))
    shown = {
        0: [[1, *_box(1), "alice"], [3, *_box(101), "unknown"], [9, *_box(300, 10), "?"]],  # 9: on the ignored face
        1: [[1, *_box(0), "alice"], [3, *_box(100), "unknown"], [7, *_box(500), "alice"]],  # 7: a false positive
        2: [[2, *_box(0), "bob"], [3, *_box(99), "unknown"]],  # alice now under track 2 (a switch), misnamed
        3: [[2, *_box(2), "bob"], [3, *_box(100, 20), "unknown"]],  # bob's box too small: IoU 0.16, a miss
    }
    s = score(truth, shown, starts=[0, 2], enrolled=["alice"])
    # By hand: 8 objects; misses 1 (bob, frame 3) + 1 unmatched hypothesis there; FP = 7 on frame
    # 1 and the stray box on frame 3 = 2; switches 1 (alice: track 1 -> 2). MOTA = 1 - (1+2+1)/8.
    assert s["objects"] == 8 and s["misses"] == 1 and s["false_positives"] == 2 and s["id_switches"] == 1
    assert s["mota"] == pytest.approx(1 - 4 / 8)
    # IDF1: best one-to-one id map alice<->1 (2 frames) (or 2), bob<->3 (3 frames): IDTP 5;
    # 8 truth boxes, 9 hypotheses counted (ignored one dropped): IDF1 = 2*5 / (8 + 9).
    assert s["idf1"] == pytest.approx(10 / 17)
    # Named right (all faces 50 px >= 40): alice frames 0-1 (2), bob frames 0-2 as "unknown" (3).
    assert (s["named_right"], s["named_total"]) == (5, 8)
    # Track 3 shows a name in both shots; 1 and 2 stay within one shot each; 7 only in shot 0.
    assert s["tracks_named_across_cut"] == ["3"]
    assert s["recall_by_size"]["40-60"] == [7, 8]


def test_clip_truth_crops_scales_and_ignores():
    manifest = {"sources": {"s": {"size": [640, 480]}}}
    labels = {"ignore_below": 20, "sources": {"s": {
        "10": [[100, 50, 150, 110, "alice"], [300, 20, 340, 60, "bob"], [500, 0, 540, 30, "dan"], [400, 200, 410, 212, "carol"]],
        "11": [[0, 0, 10, 10, "ignore"]], "30": [[100, 100, 160, 160, "bob"]]}}}
    clip = {"size": [1920, 1080], "crop_height": 360, "segments": [["s", 10, 12, 40], ["s", 30, 31, 0]]}
    truth, starts = clip_truth(manifest, labels, clip)
    assert starts == [0, 2] and sorted(truth) == [0, 1, 2]
    # x3 of rows 40..400 of the source; bob (rows 20-60) is half cut off: his visible part is
    # "ignore"; dan (rows 0-30) is outside: gone; carol is 10 px wide (< 20): "ignore".
    assert truth[0][0] == ([300, 30, 450, 210], "alice")
    assert truth[0][1] == ([900, 0, 1020, 60], "ignore")
    assert truth[0][2][1] == "ignore" and len(truth[0]) == 3
    assert truth[2] == [([300, 300, 480, 480], "bob")]
