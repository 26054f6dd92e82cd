"""insightface ``train.rec``/``train.idx`` reading without mxnet, on a file written here with
``struct`` following dmlc-core's RecordIO writer (including a payload that contains the
magic word, which the writer splits into continuation parts)."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.training.config import DataConfig, config_from_dict
from pipelines.training.data import load_crop
from pipelines.training.recordio import RecordFile, read_record, scan_recordio, unpack
from pipelines.training.trainer import train

from train_helpers import tiny_config

MAGIC = 0xCED7230A


def _write_record(f, payload: bytes) -> int:
    """dmlc RecordIOWriter::WriteRecord: split at 4-aligned magic words (flags 1/2/3), pad to 4."""
    start = f.tell()
    magic = struct.pack("<I", MAGIC)
    dptr = 0
    for i in range(0, len(payload) // 4 * 4, 4):
        if payload[i:i + 4] == magic:
            f.write(magic + struct.pack("<I", ((1 if dptr == 0 else 2) << 29) | (i - dptr)) + payload[dptr:i])
            dptr = i + 4
    f.write(magic + struct.pack("<I", ((3 if dptr else 0) << 29) | (len(payload) - dptr)) + payload[dptr:])
    f.write(b"\0" * (-len(payload) % 4))
    return start


def _pack(label, data: bytes, id_: int = 0) -> bytes:
    """mx.recordio.pack: IRHeader '<IfQQ'; a label vector goes after the header with flag = its size."""
    if isinstance(label, (tuple, list)):
        return struct.pack("<IfQQ", len(label), 0.0, id_, 0) + np.asarray(label, "<f4").tobytes() + data
    return struct.pack("<IfQQ", 0, float(label), id_, 0) + data


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def make_rec(folder: Path, identities: int = 3, per: int = 3, identity_records: bool = True,
             vector_labels: bool = False) -> tuple[dict[int, np.ndarray], dict[int, int], dict[int, bytes]]:
    """insightface layout. Returns (image key → pixels, image key → class, key → payload)."""
    rng = np.random.default_rng(0)
    pixels, labels, payloads = {}, {}, {}
    key = 1
    for c in range(identities):
        for _ in range(per):
            pixels[key], labels[key] = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8), c
            key += 1
    n_img = key  # images are keys 1 … n_img − 1
    id_start, id_end = n_img, n_img + (identities if identity_records else 0)
    payloads[0] = _pack((float(id_start), float(id_end)), b"")
    for k, px in pixels.items():
        data = _png(px)
        if k == 2:  # trailing bytes holding the magic word at an aligned payload offset → split record
            pad = -(24 + len(data)) % 4
            data += b"\0" * pad + struct.pack("<I", MAGIC) + b"tail" + struct.pack("<I", MAGIC) + b"xy"
        payloads[k] = _pack((float(labels[k]), 7.0) if vector_labels else labels[k], data, id_=k)
    for c in range(id_end - id_start):
        payloads[id_start + c] = _pack((float(1 + c * per), float(1 + (c + 1) * per)), b"")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "train.rec", "wb") as f, open(folder / "train.idx", "w") as idx:
        for k in sorted(payloads):
            idx.write(f"{k}\t{_write_record(f, payloads[k])}\n")
    return pixels, labels, payloads


def test_records_round_trip_including_split_records(tmp_path):
    pixels, labels, payloads = make_rec(tmp_path)
    rec = RecordFile(tmp_path / "train.rec")
    assert sorted(rec.index) == sorted(payloads)
    for k, p in payloads.items():
        assert rec.read(k) == p, k
    raw = (tmp_path / "train.rec").read_bytes()
    assert struct.unpack("<I", raw[4:8])[0] >> 29 == 0  # record 0 is whole
    off2 = rec.index[2]  # record 2 was split at its two magic words: parts flagged 1, 2, 3
    flags, pos = [], off2
    while not flags or flags[-1] not in (0, 3):
        lrec = struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        flags.append(lrec >> 29)
        pos += 8 + ((lrec & (2**29 - 1)) + 3) // 4 * 4
    assert flags == [1, 2, 3]
    h, img = unpack(rec.read(2))
    assert h.flag == 0 and h.label == labels[2] and h.id == 2
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(img)).convert("RGB")), pixels[2])
    h0, _ = unpack(rec.read(0))
    assert h0.flag == 2 and h0.label == (10.0, 13.0)


@pytest.mark.parametrize("identity_records,vector_labels", [(True, False), (False, False), (False, True)])
def test_scan_identities_and_decode(tmp_path, identity_records, vector_labels):
    pixels, labels, _ = make_rec(tmp_path, identity_records=identity_records, vector_labels=vector_labels)
    ids = scan_recordio(tmp_path)
    assert [i.name for i in ids] == ["0000000", "0000001", "0000002"] and all(len(i.files) == 3 for i in ids)
    cfg = DataConfig(format="recordio")
    keys_by_class = {c: sorted(k for k, v in labels.items() if v == c) for c in range(3)}
    for c, ident in enumerate(ids):
        for ref, k in zip(ident.files, keys_by_class[c]):
            assert np.array_equal(load_crop(ref, cfg), pixels[k])


def test_corrupt_file_is_reported(tmp_path):
    make_rec(tmp_path)
    data = bytearray((tmp_path / "train.rec").read_bytes())
    data[0] ^= 0xFF
    (tmp_path / "train.rec").write_bytes(bytes(data))
    with open(tmp_path / "train.rec", "rb") as f, pytest.raises(ValueError, match="bad RecordIO magic"):
        read_record(f, 0)


def test_train_on_recordio(tmp_path):
    make_rec(tmp_path / "rec", identities=5, per=4)
    d = tiny_config(tmp_path / "rec", data={"root": str(tmp_path / "rec"), "format": "recordio",
                                           "val_identities": 2}, train={"epochs": 1, "batch_size": 6})
    res = train(config_from_dict(d), tmp_path / "out")
    assert res.status == "finished" and res.step == 2 and (tmp_path / "out" / "best_embedder.pt").is_file()
