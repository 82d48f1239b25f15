"""What our pipelines share: loading from a folder or a Hub repo id."""

import os

from diffusers import DiffusionPipeline
from huggingface_hub import snapshot_download


class SnapshotLoadingPipeline(DiffusionPipeline):
    """A `DiffusionPipeline` whose `from_pretrained` downloads a repo snapshot first, then loads the folder.

    diffusers 0.42 refuses a repo id whose `model_index.json` names a library other than diffusers or transformers
    (ours name `lsd_schedulers`); a local folder with the same files loads.
    """

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        """Load from a folder or a Hub repo id (`revision`, `token` and `cache_dir` are passed to the download)."""
        path = pretrained_model_name_or_path
        if not os.path.isdir(path):
            path = snapshot_download(
                str(path),
                revision=kwargs.pop("revision", None),
                token=kwargs.get("token"),
                cache_dir=kwargs.get("cache_dir"),
            )
        return super().from_pretrained(path, **kwargs)
