import shutil
from pathlib import Path

import torch


class FixedLogitsDenoiser:
    """A deterministic stand-in model: logits depend on position and on the number of masked tokens."""

    def __init__(self, vocab_size: int, seq_len: int, seed: int = 0, mask_token_id: int | None = None):
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.randn(seq_len, vocab_size, generator=generator) * 2
        self.mask_token_id = mask_token_id
        self.calls = 0

    def __call__(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        logits = self.table.expand(sample.shape[0], -1, -1).clone()
        # depend on the state, so that different trajectories see different outputs
        logits += 0.1 * (sample.unsqueeze(-1) % 3).float()
        return logits


def publish_to_fake_hub(cache: Path, repo_id: str, folder: Path, ignore: tuple[str, ...] = ()) -> Path:
    """Lay `folder` out as the Hub cache does for `repo_id` (refs/main -> snapshot), so that offline loading by
    repo id (HF_HUB_OFFLINE=1, HF_HUB_CACHE=cache) finds it. Returns the snapshot folder."""
    revision = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(folder, snapshot, ignore=shutil.ignore_patterns(*ignore))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot
