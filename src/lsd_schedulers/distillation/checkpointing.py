"""Safe, atomic, resumable checkpoints: a distillation run's state as one JSON file per folder (no pickle), and the
naming, publishing and pruning that teacher training shares.

Every tensor in the state is a short float64 vector, so JSON stores it exactly (Python writes floats by repr).
"""

import fcntl
import json
import os
import re
import shutil
from pathlib import Path

import torch

from ..validation import check_integer

STATE_FILE = "distiller_state.json"
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


def _to_json(value):
    if isinstance(value, torch.Tensor):
        return {"__tensor__": value.detach().cpu().tolist(), "dtype": str(value.dtype).removeprefix("torch.")}
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def _from_json(value, integer_keys: bool = False):
    if isinstance(value, dict):
        if "__tensor__" in value:
            return torch.tensor(value["__tensor__"], dtype=getattr(torch, value["dtype"]))
        return {(int(k) if integer_keys and k.isdigit() else k): _from_json(v, k == "state") for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def save_checkpoint(
    state: dict, checkpoints_dir: str | os.PathLike, step: int, total_limit: int | None = None
) -> Path:
    """Write `state` to `checkpoints_dir/checkpoint-{step}` atomically (temporary folder, then rename).

    Args:
        state (`dict`): a `state_dict()` of plain values and tensors.
        checkpoints_dir (`str` or `os.PathLike`): parent folder of the checkpoints.
        step (`int`): the step the state was taken after.
        total_limit (`int`, *optional*): keep only this many newest checkpoints (at least 1; None keeps all).
    """
    check_integer("checkpoints_total_limit", total_limit, minimum=1, allow_none=True)
    temporary, final = checkpoint_paths(checkpoints_dir, step)
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    with open(temporary / STATE_FILE, "w") as handle:
        json.dump(_to_json(state), handle)
        handle.flush()
        os.fsync(handle.fileno())
    return publish_checkpoint(temporary, final, total_limit)


def checkpoint_paths(checkpoints_dir: str | os.PathLike, step: int) -> tuple[Path, Path]:
    """The temporary folder checkpoint `step` is written into, and the name it is published under.

    Args:
        checkpoints_dir (`str` or `os.PathLike`): parent folder of the checkpoints.
        step (`int`): the step the state was taken after.
    """
    checkpoints_dir = Path(checkpoints_dir)
    return checkpoints_dir / f".checkpoint-{step}.tmp", checkpoints_dir / f"checkpoint-{step}"


def publish_checkpoint(
    temporary: Path, final: Path, total_limit: int | None = None, required_file: str | None = STATE_FILE
) -> Path:
    """Rename a fully written checkpoint folder to its final name (atomic: a killed run never leaves a half
    checkpoint under that name), then keep only the `total_limit` newest checkpoints.

    Args:
        temporary (`Path`): the written folder. final (`Path`): its name, `checkpoint-{step}` (`checkpoint_paths`).
        total_limit (`int`, *optional*): keep only this many newest checkpoints (None keeps all).
        required_file (`str`, *optional*): the file a complete checkpoint holds (None: any published folder).
    """
    check_integer("checkpoints_total_limit", total_limit, minimum=1, allow_none=True)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    if total_limit is not None:
        for old in list_checkpoints(final.parent, required_file)[:-total_limit]:
            shutil.rmtree(old)
    return final


def list_checkpoints(checkpoints_dir: str | os.PathLike, required_file: str | None = STATE_FILE) -> list[Path]:
    """Complete checkpoints in `checkpoints_dir`, oldest first (unfinished temporary folders are ignored).

    Args:
        checkpoints_dir (`str` or `os.PathLike`): parent folder of the checkpoints.
        required_file (`str`, *optional*): the file a complete checkpoint holds (None: any published folder).
    """
    checkpoints_dir = Path(checkpoints_dir)
    if not checkpoints_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in checkpoints_dir.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return [path for _, path in sorted(found) if required_file is None or (path / required_file).is_file()]


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint folder written by `save_checkpoint`."""
    state_file = Path(path) / STATE_FILE
    if not state_file.is_file():
        raise FileNotFoundError(f"No {STATE_FILE} in {path}: not a distillation checkpoint.")
    try:
        with open(state_file) as handle:
            return _from_json(json.load(handle))
    except json.JSONDecodeError as error:
        raise ValueError(f"Checkpoint {state_file} is corrupted: {error}.") from error


def lock_output_dir(output_dir: str | os.PathLike):
    """Hold an exclusive lock on `output_dir` for the life of the returned file (one run per folder).

    A second run into the same folder would overwrite the first one's checkpoints and results; it fails instead.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    handle = open(output_dir / ".distill.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise RuntimeError(
            f"Another run is writing to {output_dir} (it holds {output_dir / '.distill.lock'}); wait for it, or pass "
            "another --output_dir."
        ) from None
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
