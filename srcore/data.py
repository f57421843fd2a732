"""Training and validation data: HR images from folders, LR by MATLAB-compatible bicubic x4.

``python -m srcore.data fetch NAME ...`` downloads the datasets themselves (``srcore.datasets``).

Images are decoded once and kept in memory (uint8); each LR image is the benchmark
degradation of the whole HR image (``srcore.resize.downscale_x4``), and training samples are
aligned random crops of the pair with random flips and 90-degree rotations.  The ``seed``
preset reproduces the report: whole images resized to 256x256 (aspect ratio distorted), LR
64x64, random horizontal flips.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from srcore.imageio import ImageLoadError, list_images, load_image
from srcore.metrics import mod_crop
from srcore.resize import downscale_x4, imresize_uint8


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)


def to_tensor_u8(img: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW uint8: a training crop as the data workers hand it over (a quarter of
    float32's bytes through their shared memory and the host-to-device copy); ``batch_to_device``
    makes it float on the device, with the same values as ``to_tensor``."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()


def batch_to_device(
    t: torch.Tensor, device: torch.device | str, memory_format: torch.memory_format = torch.contiguous_format
) -> torch.Tensor:
    """A loader batch on ``device`` as float in [0, 1] (uint8 crops are converted there)."""
    t = t.to(device, non_blocking=True, memory_format=memory_format)
    return t.float().div_(255.0) if t.dtype == torch.uint8 else t


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """3xHxW (or 1x3xHxW) float in [0, 1] -> HxWx3 uint8, rounded and clipped."""
    if t.ndim == 4:
        t = t[0]
    return t.detach().float().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy()


def image_files(dirs: Sequence[str | Path]) -> list[Path]:
    files = [p for d in dirs for p in list_images(d)]
    if not files:
        raise FileNotFoundError(f"no images found in {', '.join(map(str, dirs))}")
    return files


def split_holdout(files: list[Path], n: int) -> tuple[list[Path], list[Path]]:
    """(train, held-out) files: the ``n`` files whose names hash lowest are held out for validation.

    Depends only on the file names, so the split is the same on every machine and stays the
    same when files are added to other folders' ends of the list.
    """
    if n <= 0:
        return list(files), []
    if n >= len(files):
        raise ValueError(f"cannot hold out {n} of {len(files)} training images for validation")
    order = sorted(files, key=lambda p: hashlib.sha1(f"{p.parent.name}/{p.name}".encode()).hexdigest())
    held = set(order[:n])
    return [p for p in files if p not in held], [p for p in files if p in held]


def load_pairs(
    dirs: list[str | Path] | None = None,
    seed_preset: bool = False,
    progress: bool = True,
    min_side: int = 16,
    files: list[Path] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(HR, LR, name) for every image in ``dirs`` (or ``files``); HR mod-cropped to 4 (or resized
    to 256 for seed).  Images with a side below ``min_side`` (e.g. smaller than the training
    crop) are skipped with a one-line note on stderr, never a crash later in batching; so are files
    that cannot be decoded (a corrupt or truncated image is named, and the run goes on)."""
    files = image_files(dirs or []) if files is None else files
    out = []
    for p in tqdm(files, desc="decoding images", unit="image", disable=not progress, leave=False):
        try:
            hr = load_image(p).array
        except ImageLoadError as e:
            print(f"note: skipping {p}: cannot decode it ({e})", file=sys.stderr)
            continue
        hr = imresize_uint8(hr, size=(256, 256)) if seed_preset else mod_crop(hr, 4)
        if min(hr.shape[:2]) < min_side:
            print(
                f"note: skipping {p.name} ({hr.shape[1]}x{hr.shape[0]}): smaller than the {min_side} px crop",
                file=sys.stderr,
            )
            continue
        out.append((hr, downscale_x4(hr), p.stem))
    if not out:
        raise FileNotFoundError(
            f"no image of at least {min_side} px a side in {', '.join(sorted({str(p.parent) for p in files}))}"
        )
    return out


def augment(
    hr: np.ndarray, lr: np.ndarray, rng: np.random.Generator, rotate: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    if rng.random() < 0.5:
        hr, lr = hr[:, ::-1], lr[:, ::-1]
    if rotate:
        if rng.random() < 0.5:
            hr, lr = hr[::-1], lr[::-1]
        if rng.random() < 0.5:
            hr, lr = hr.transpose(1, 0, 2), lr.transpose(1, 0, 2)
    return hr, lr


class CropDataset(Dataset):
    """Random aligned (LR, HR) crops as uint8 tensors (``batch_to_device`` makes them float);
    ``len`` = images x crops_per_image (one epoch)."""

    def __init__(
        self, pairs: list, patch: int, crops_per_image: int = 8, augment: bool = True, seed_preset: bool = False
    ):
        self.pairs = pairs
        self.patch = patch
        self.crops = crops_per_image
        self.augment = augment
        self.seed_preset = seed_preset
        self.epoch = 0
        self.base_seed = 0

    def __len__(self) -> int:
        return len(self.pairs) * self.crops

    def set_epoch(self, epoch: int, base_seed: int = 0) -> None:
        """Crops depend only on (seed, epoch, index): resumable and the same with any worker count."""
        self.epoch, self.base_seed = epoch, base_seed

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``key`` is an index (in the epoch set by ``set_epoch``) or an (epoch, index) pair, which
        persistent workers need: they keep their own copy of the dataset and never see set_epoch."""
        epoch, i = key if isinstance(key, tuple) else (self.epoch, key)
        rng = np.random.default_rng([self.base_seed, epoch, i])
        hr, lr, _ = self.pairs[i % len(self.pairs)]
        if self.seed_preset:
            if self.augment and rng.random() < 0.5:
                hr, lr = hr[:, ::-1], lr[:, ::-1]
            return to_tensor_u8(lr), to_tensor_u8(hr)
        lp = self.patch // 4
        h, w = lr.shape[:2]
        lp = min(lp, h, w)
        y, x = int(rng.integers(0, h - lp + 1)), int(rng.integers(0, w - lp + 1))
        lr_c = lr[y : y + lp, x : x + lp]
        hr_c = hr[4 * y : 4 * (y + lp), 4 * x : 4 * (x + lp)]
        if self.augment:
            hr_c, lr_c = augment(hr_c, lr_c, rng)
        return to_tensor_u8(lr_c), to_tensor_u8(hr_c)


class EpochBatches:
    """The batch sampler of a whole run: batches of (epoch, index) keys from global batch ``start``
    on, each epoch a seeded permutation sharded per rank.  One DataLoader (persistent workers)
    serves the whole run, and the batches equal the old per-epoch loaders' exactly."""

    def __init__(self, n_items: int, batch: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1):
        self.n, self.batch, self.seed = n_items, batch, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world
        self.per_epoch = max(1, n_items // (batch * world))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start
        while step < self.stop:
            epoch, i = divmod(step, self.per_epoch)
            perm = np.random.default_rng([self.seed, 7, epoch]).permutation(self.n)
            for j in range(i, self.per_epoch):
                if step >= self.stop:
                    return
                k = j * self.world + self.rank
                yield [(epoch, int(x)) for x in perm[k * self.batch : (k + 1) * self.batch]]
                step += 1


def fixed_crops(pairs: list, side: int) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Centre HR crops of ``side`` (multiple of 4) with their LR: the training-progress pictures."""
    out = []
    for hr, lr, name in pairs:
        s = min(side, hr.shape[0], hr.shape[1]) // 4 * 4
        y = (hr.shape[0] - s) // 2 // 4 * 4
        x = (hr.shape[1] - s) // 2 // 4 * 4
        out.append((hr[y : y + s, x : x + s], lr[y // 4 : (y + s) // 4, x // 4 : (x + s) // 4], name))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m srcore.data fetch ...``: see ``srcore.datasets``."""
    from srcore.datasets import main as datasets_main

    return datasets_main(argv)


if __name__ == "__main__":
    sys.exit(main())
