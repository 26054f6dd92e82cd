"""``facerec cluster`` runs one at a time per output folder: a second run waits for the
first's :func:`facerec.io.locking.file_lock` (it reads the previous clusters.json, then replaces
the outputs whole), so two runs never interleave their writes."""
from __future__ import annotations

import argparse
import threading
from pathlib import Path

from facerec.io.locking import file_lock
from pipelines.cli import cluster as cli_cluster


def test_a_second_run_waits_for_the_first(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    started = threading.Event()

    class _Report:  # what run() prints from, reduced to the JSON summary
        def summary_dict(self) -> dict:
            return {}

    def fake_cluster(rec, photos, out_dir, **kw):
        started.set()
        return _Report()

    monkeypatch.setattr(cli_cluster, "load_recognizer", lambda args: None)
    monkeypatch.setattr(cli_cluster, "cluster_photos", fake_cluster)
    monkeypatch.setattr(cli_cluster, "emit_json", lambda d: None)
    args = argparse.Namespace(out=str(out), photos=[], threshold=None, method="average", min_size=1, json=True,
                              full=False, min_quality=None, action=None)
    args.form = args  # the command line's chosen form (photos, not a correction), where it has several
    with file_lock(out / ".lock"):  # another run holds the folder
        t = threading.Thread(target=cli_cluster.run, args=(args,))
        t.start()
        assert not started.wait(0.5)  # ...so this one waits
    t.join(10)
    assert started.is_set()
