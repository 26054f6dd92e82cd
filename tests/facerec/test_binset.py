"""insightface .bin sets: round trip with files written the way insightface writes them, and
pickles that would run code or carry other objects are refused."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from facerec.metrics.binset import BinFormatError, _restricted_loads, load_bin, loads_bin, save_bin


def _jpegs(lfw_dir: Path, n: int) -> list[bytes]:
    files = sorted(lfw_dir.glob("A*/*_0001.jpg"))[:n]
    return [f.read_bytes() for f in files]


@pytest.mark.parametrize("protocol", [3, 4, pickle.HIGHEST_PROTOCOL])
def test_round_trip_insightface_layout(tmp_path: Path, lfw_dir: Path, protocol: int):
    images, issame = _jpegs(lfw_dir, 6), [True, False, True]
    path = tmp_path / "set.bin"
    with open(path, "wb") as f:  # as insightface's dataset2bin / lfw2pack do
        pickle.dump((images, issame), f, protocol=protocol)
    b = load_bin(path)
    assert b.images == images and b.issame.tolist() == issame and len(b) == 3
    save_bin(tmp_path / "again.bin", b.images, b.issame.tolist())
    with open(tmp_path / "again.bin", "rb") as f:
        assert pickle.load(f) == (images, issame)  # plain pickle reads ours back identically


def test_python2_pickle_with_str_images():
    # Protocol 2 as Python 2 writes a tuple (list of str, list of bool): SHORT_BINSTRING / BINSTRING.
    data = (b"\x80\x02" b"]q\x00(U\x03abcq\x01T\x04\x00\x00\x00defgq\x02e"
            b"]q\x03\x88a\x86q\x04.")
    b = loads_bin(data)
    assert b.images == [b"abc", b"defg"] and b.issame.tolist() == [True]
    # Protocol 0 (text, Python 2: STRING) spells True as "I01"
    data0 = b"((lp0\nS'abc'\np1\naS'de'\np2\na(lp3\nI01\natp4\n."
    b0 = loads_bin(data0)
    assert b0.images == [b"abc", b"de"] and b0.issame.tolist() == [True]


def test_python3_protocol2_bytes_need_a_global_and_are_refused():
    # Python 3 writes bytes with protocol < 3 as _codecs.encode(str, "latin1"): a global call.
    with pytest.raises(BinFormatError, match="re-save with protocol >= 3"):
        loads_bin(pickle.dumps(([b"a", b"b"], [True]), protocol=2))


def test_folds_are_contiguous_like_insightface():
    b = loads_bin(pickle.dumps(([b"x"] * 40, [True] * 20)))
    from sklearn.model_selection import KFold  # insightface's split: KFold(10, shuffle=False)

    expected = np.empty(20, int)
    for k, (_, test) in enumerate(KFold(n_splits=10, shuffle=False).split(np.arange(20))):
        expected[test] = k
    assert b.folds(10).tolist() == expected.tolist()


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path: Path):
    marker = tmp_path / "pwned"
    for payload in (_Evil(marker), ([b"a", b"b"], [_Evil(marker)]), ([_Evil(marker), b"b"], [True])):
        data = pickle.dumps(payload)
        assert b"system" in data  # the payload really names os.system / posix.system
        (tmp_path / "evil.bin").write_bytes(data)
        with pytest.raises(BinFormatError, match="not allowed"):
            load_bin(tmp_path / "evil.bin")
        # Second line of defence, without the opcode check: the unpickler refuses the global.
        with pytest.raises(BinFormatError, match="refused"):
            _restricted_loads(data)
    assert not marker.exists()
    # the same bytes do run code through a plain unpickler: the test payload is real
    pickle.loads(pickle.dumps(_Evil(marker)))
    assert marker.exists()


@pytest.mark.parametrize("payload,match", [
    (([b"a", b"b"], [np.bool_(True)]), "not allowed"),         # numpy needs a global
    ({"images": [b"a", b"b"]}, "not allowed"),                  # dicts are not a .bin
    (([b"a", b"b"], [1]), "list of bools"),
    ((["a", "b"], [True]), "not allowed"),                      # unicode str, not bytes
    (([b"a", b"b", b"c"], [True]), "2 per pair"),
    (([b"a", b"b"], [True], [False]), "expected a pair"),
    (([], []), "2 per pair"),
])
def test_wrong_structures_refused(payload, match):
    with pytest.raises(BinFormatError, match=match):
        loads_bin(pickle.dumps(payload))


def test_not_a_pickle(tmp_path: Path):
    with pytest.raises(BinFormatError, match="not a pickle|not allowed"):
        loads_bin(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(BinFormatError):
        loads_bin(pickle.dumps(([b"a", b"b"], [True]))[:-5])  # truncated
