"""Fashion-MNIST from its IDX files (Debian's `dataset-fashion-mnist`; `make fashion-mnist` puts them in data/)."""

import gzip
import os
from pathlib import Path

import numpy as np
import torch

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DEFAULT_ROOT = Path("data/fashion-mnist")
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """An IDX file (optionally gzipped) as a tensor: magic 0x0000 <dtype> <ndim>, ndim big-endian sizes, data."""
    path = Path(path)
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number).")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {data.size} values; its header says {shape}.")
    return torch.from_numpy(data.astype(data.dtype.newbyteorder("="), copy=True).reshape(shape))


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike = DEFAULT_ROOT
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of a split: images float in [-1, 1] of shape (N, 1, 28, 28), labels int64 of shape (N,).

    Args:
        split (`str`): `"train"` (60,000 images) or `"test"` (10,000).
        root (`str` or `os.PathLike`): the folder with the four IDX files (`make fashion-mnist`).
    """
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    root = Path(root)
    images_file, labels_file = root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"
    if not images_file.is_file() or not labels_file.is_file():
        raise FileNotFoundError(f"Fashion-MNIST IDX files not found in {root}; run `make fashion-mnist`.")
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels in {root} ({split}).")
    return images.float().div(127.5).sub(1).unsqueeze(1), labels.long()
