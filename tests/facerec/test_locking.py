"""facerec's one inter-process write lock (:func:`facerec.io.locking.file_lock`): writer
processes doing read-modify-write on one store under it lose no update."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Each writer appends its own items to a JSON list, one read-modify-write at a time, with a
# pause between the read and the write so that, unlocked, writers would overwrite each other.
WRITER = """
import json, sys, time
from pathlib import Path
from facerec.io.atomic import atomic_write_text
from facerec.io.locking import file_lock
store, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(n):
    with file_lock(store.with_name(".lock")):
        with file_lock(store.with_name(".lock")):  # re-entrant: a save inside the writer's lock
            items = json.loads(store.read_text()) if store.exists() else []
        time.sleep(0.002)
        atomic_write_text(store, json.dumps(items + [f"{who}-{i}"]))
"""


def test_concurrent_read_modify_write_keeps_every_update(tmp_path: Path) -> None:
    store, writers, n = tmp_path / "store" / "items.json", 4, 25
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(store), str(w), str(n)], env=env,
                              stderr=subprocess.PIPE, text=True) for w in range(writers)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    items = json.loads(store.read_text())
    assert sorted(items) == sorted(f"{w}-{i}" for w in range(writers) for i in range(n))
