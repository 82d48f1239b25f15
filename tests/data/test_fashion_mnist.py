import gzip

import numpy as np
import pytest
import torch

from lsd_schedulers.data import load_fashion_mnist, read_idx


def write_idx(path, array: np.ndarray, dtype_code: int = 0x08) -> None:
    header = bytes([0, 0, dtype_code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())


def fake_split(root, prefix: str, count: int, seed: int = 0) -> np.ndarray:
    images = np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8))
    return images


def test_read_idx_round_trips_big_endian_data(tmp_path):
    values = (np.arange(12).reshape(3, 4) - 5).astype(">i4")
    write_idx(tmp_path / "ints.gz", values, dtype_code=0x0C)
    assert torch.equal(read_idx(tmp_path / "ints.gz"), torch.arange(12, dtype=torch.int32).view(3, 4) - 5)


def test_load_scales_images_and_keeps_labels(tmp_path):
    raw = fake_split(tmp_path, "t10k", 7)
    images, labels = load_fashion_mnist("test", tmp_path)
    assert images.shape == (7, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    assert torch.allclose(images[:, 0], torch.from_numpy(raw).float() / 127.5 - 1)
    assert labels.tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_bad_files_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="make fashion-mnist"):
        load_fashion_mnist("train", tmp_path)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_fashion_mnist("validation", tmp_path)
    (tmp_path / "junk.gz").write_bytes(gzip.compress(b"not an idx file"))
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(tmp_path / "junk.gz")
    truncated = bytes([0, 0, 0x08, 1]) + (10).to_bytes(4, "big") + b"\x01\x02"
    (tmp_path / "short.gz").write_bytes(gzip.compress(truncated))
    with pytest.raises(ValueError, match="holds 2 values; its header says"):
        read_idx(tmp_path / "short.gz")
