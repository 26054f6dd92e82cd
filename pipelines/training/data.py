"""Folder-per-identity face datasets: scanning, the identity-disjoint split, batches.

Images are decoded with PIL (:func:`facerec.io.image.load_image`), aligned if asked
(``data.align = "center"``), augmented as uint8 crops and turned into tensors by
:meth:`facerec.runtime.preprocessing.Preprocessing.to_tensor` — the preprocessing inference uses.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from facerec.alignment import align_face, center_crop_landmarks, get_template
from facerec.io.image import load_image
from facerec.runtime.preprocessing import Preprocessing

from ..photos import identity_folders, list_images
from .augment import augment, sample_rng
from .config import AugmentConfig, DataConfig
from .identities import Identity, Split
from .recordio import read_image_bytes

log = logging.getLogger(__name__)

def scan_identities(root: str | Path, min_images: int = 1, max_identities: int = 0) -> list[Identity]:
    """Identities (sub-folders, sorted) of ``root`` with at least ``min_images`` images."""
    if not str(root):
        raise ValueError("data.root is not set: pass --set data.root=PATH (a folder of identity folders)")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder not found (set data.root)")
    out = []
    for d, files in identity_folders(root):
        if len(files) >= min_images:
            out.append(Identity(d.name, tuple(files)))
        if max_identities and len(out) >= max_identities:
            break
    if not out:
        raise ValueError(f"{root}: no identity folder with >= {min_images} images")
    return out


def scan_unlabeled(folders: Sequence[str | Path]) -> list[Path]:
    """Every image file under ``folders`` (recursively, following links, hidden entries
    skipped, sorted per folder): aligned crops without identities."""
    out: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: unlabeled data folder not found (data.unlabeled)")
        out += list_images(root)
    return out


def split_identities(identities: Sequence[Identity], val_identities: int, seed: int) -> Split:
    """Hold out ``val_identities`` identities chosen by a seeded permutation; both sides sorted by name."""
    if not 0 <= val_identities < len(identities):
        raise ValueError(f"data.val_identities={val_identities} must be < the {len(identities)} identities found")
    perm = np.random.default_rng(seed).permutation(len(identities))
    val_idx = set(perm[:val_identities].tolist())
    train = tuple(i for k, i in enumerate(identities) if k not in val_idx)
    val = tuple(i for k, i in enumerate(identities) if k in val_idx)
    return Split(train, val)


def load_crop(path: Path | Any, cfg: DataConfig) -> np.ndarray:
    """One image (a file, or a :class:`~.recordio.RecordRef`) → aligned (H, W, 3) uint8 crop
    of the template's size."""
    if isinstance(path, Path):
        rgb = load_image(path)
    else:
        rgb = load_image(read_image_bytes(path))
    tpl = get_template(cfg.template)
    h, w = rgb.shape[:2]
    if cfg.align == "center":
        return align_face(rgb, center_crop_landmarks(w, h, tpl, cfg.center_face_fraction), tpl)
    if (w, h) != tpl.size:
        raise ValueError(f"{path}: {w}x{h} is not an aligned {tpl.size[0]}x{tpl.size[1]} crop; run "
                         f"'facerec prepare' first or set data.align='center' for pre-cropped faces")
    return rgb


UNLABELED = -1  # label of a sample without identity (trains the distillation term only)


class FaceDataset(torch.utils.data.Dataset):
    """(image, label, index) samples of ``identities``, then ``unlabeled`` files; label = position
    of the identity, :data:`UNLABELED` for the unlabeled files.

    Indexed by ``(index, epoch)`` so augmentation is a pure function of (seed, epoch, index).
    """

    def __init__(self, identities: Sequence[Identity], cfg: DataConfig, augment_cfg: AugmentConfig | None,
                 seed: int = 0, progress: bool = False, unlabeled: Sequence[Path] = ()) -> None:
        self.cfg, self.augment_cfg, self.seed = cfg, augment_cfg, seed
        self.classes = [i.name for i in identities]
        self.files = [f for i in identities for f in i.files] + list(unlabeled)
        self.labels = np.array([k for k, i in enumerate(identities) for _ in i.files] + [UNLABELED] * len(unlabeled),
                               dtype=np.int64)
        self._cache: np.ndarray | None = None
        if cfg.preload and self.files:
            # (N, H, W, 3) uint8 in memory; 37 KB per 112×112 crop.
            crops = [load_crop(f, cfg) for f in tqdm(self.files, desc="decode", unit="img", disable=not progress)]
            self._cache = np.stack(crops)

    def __len__(self) -> int:
        return len(self.files)

    def crop(self, index: int) -> np.ndarray:
        """The un-augmented crop of sample ``index``."""
        return self._cache[index] if self._cache is not None else load_crop(self.files[index], self.cfg)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the samples where ``mask`` (N,) is true (e.g. drop near-duplicates of the test set)."""
        idx = np.flatnonzero(mask)
        self.files = [self.files[i] for i in idx]
        self.labels = self.labels[idx]
        if self._cache is not None:
            self._cache = self._cache[idx]

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, int, int]:
        index, epoch = key
        crop = self.crop(index)
        if self.augment_cfg is not None:
            crop = augment(crop, self.augment_cfg, sample_rng(self.seed, epoch, index))
        return crop, int(self.labels[index]), index


class EpochBatches(torch.utils.data.Sampler):
    """Batches of ``(index, epoch)`` keys for one epoch, in an order fixed by (seed, epoch).

    ``batch_size`` is the global batch; rank ``r`` of ``world`` takes the r-th contiguous
    slice of every global batch (what a single process would see, split). Incomplete last
    batches are dropped. ``start`` skips the first batches (resuming mid-epoch).
    """

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, start: int = 0, rank: int = 0,
                 world: int = 1) -> None:
        self.check(n, batch_size, world)
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.start, self.rank, self.world = start, rank, world

    @staticmethod
    def check(n: int, batch_size: int, world: int = 1) -> None:
        """ValueError unless ``n`` samples make at least one global batch split evenly over ``world``."""
        if batch_size % world:
            raise ValueError(f"train.batch_size={batch_size} must be divisible by the {world} processes")
        if n < batch_size:
            raise ValueError(f"{n} training images are fewer than train.batch_size={batch_size}")

    def __len__(self) -> int:
        return max(0, self.n // self.batch_size - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        perm = np.random.default_rng([self.seed, self.epoch, 7919]).permutation(self.n)
        local = self.batch_size // self.world
        for b in range(self.start, self.n // self.batch_size):
            g = perm[b * self.batch_size:(b + 1) * self.batch_size]
            yield [(int(i), self.epoch) for i in g[self.rank * local:(self.rank + 1) * local]]


class Collate:
    """List of (crop, label, index) → ((N, 3, H, W) float tensor, (N,) int64 labels, (N,) int64
    sample indices) via THE preprocessing."""

    def __init__(self, preprocessing: Preprocessing) -> None:
        self.preprocessing = preprocessing

    def __call__(self, items: list[tuple[np.ndarray, int, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        crops = np.stack([it[0] for it in items])
        labels = torch.tensor([it[1] for it in items], dtype=torch.long)
        indices = torch.tensor([it[2] for it in items], dtype=torch.long)
        return self.preprocessing.to_tensor(crops), labels, indices


def make_loader(ds: FaceDataset, sampler: EpochBatches, preprocessing: Preprocessing,
                num_workers: int = 0) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=Collate(preprocessing),
                                       num_workers=num_workers, persistent_workers=False,
                                       # own generator: creating an iterator must not consume the global RNG
                                       generator=torch.Generator().manual_seed(0))
