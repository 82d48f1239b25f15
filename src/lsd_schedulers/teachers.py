"""Frozen models of every supported kind as distillation teachers: a denoiser, its baseline sampler, how to start.

`load_teacher(name_or_path, ...)` reads:

| what | found by | denoiser | conditioning |
| --- | --- | --- | --- |
| the countdown oracle | `None` or `"countdown"` | `MarkovChainOracle` | - |
| `LSDMaskedTextPipeline` | `model_index.json` | its adapter, special ids at probability 0 | prompts (prefix) |
| `LSDVQImagePipeline` | `model_index.json` | `ClassConditionalAdapter` (guidance) or `NativeAdapter` | class labels |
| diffusers' `AmusedPipeline` | `model_index.json` | `AmusedAdapter` (guidance) | prompts (text encoder) |
| a transformer + scheduler folder | `transformer/`, `scheduler/` | `NativeAdapter` (`train_teacher.py`) | - |
| a transformers model | `config.json` | masked LM, LLaDA, MDLM or SEDD adapter (`model_type`) | prompts (prefix) |

Transformers models are wrapped in an `LSDMaskedTextPipeline`, so every text teacher gets the same templates
(special tokens around the prompt), the same checks of the mask id against the tokenizer, and can be saved as a
pipeline with the distilled scheduler inside.
"""

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from huggingface_hub import snapshot_download

from .hand_made import baseline_of
from .metrics.evaluation import countdown_metrics
from .models import AmusedAdapter, ClassConditionalAdapter, MarkovChainOracle, NativeAdapter, countdown_chain
from .models.adapters import LLaDAAdapter, MaskedLMAdapter, MDLMAdapter, SEDDAdapter
from .models.masked_transformer import MaskedDiffusionTransformer
from .pipelines import LSDMaskedTextPipeline, LSDVQImagePipeline
from .sampling import Denoiser, generate, initial_noise
from .scheduling_lsd import LSDDiscreteScheduler

MODEL_TYPES = ("masked_lm", "llada", "mdlm", "sedd")
ADAPTERS = {"masked_lm": MaskedLMAdapter, "llada": LLaDAAdapter, "mdlm": MDLMAdapter}


@dataclass
class Teacher:
    """A frozen model ready for distillation and sampling.

    Args:
        denoiser (`Callable`): `f(x_t, t) -> model output` over `(batch, seq_len)` states.
        scheduler (`LSDDiscreteScheduler`): the baseline sampler (no learned values).
        seq_len (`int`): the length of the states the sampler walks.
        description (`str`): what the model is, for model cards.
        start (`Callable`, *optional*): `start(batch_size, generator)` -> x_1 with conditioning in place (a prompt's
            tokens already revealed); default all MASK / uniform noise.
        pipeline (*optional*): the pipeline to save with the distilled scheduler (`--save_pipeline`).
        task_metrics (`Callable`, *optional*): samples -> the task's own metrics (countdown).
        grid (`tuple[int, int]`, *optional*): the token grid of image models.
    """

    denoiser: Denoiser
    scheduler: LSDDiscreteScheduler
    seq_len: int
    description: str
    start: Callable[[int, torch.Generator | None], torch.LongTensor] | None = None
    pipeline: object = None
    task_metrics: Callable[[torch.LongTensor], dict] | None = None
    grid: tuple[int, int] | None = None
    details: dict = field(default_factory=dict)

    def start_states(self, batch_size: int, generator: torch.Generator | None = None) -> torch.LongTensor:
        """x_1 for `batch_size` rows (conditioning in place)."""
        if self.start is not None:
            return self.start(batch_size, generator)
        return initial_noise(self.scheduler, (batch_size, self.seq_len), generator)


def resolve_folder(name_or_path: str, subfolder: str | None = None, revision: str | None = None) -> Path:
    """A local folder, or a Hub repo id downloaded to the cache (`snapshot_download`), plus `subfolder`."""
    if os.path.isdir(name_or_path):
        folder = Path(name_or_path)
    else:
        folder = Path(snapshot_download(str(name_or_path), revision=revision))
    folder = folder / subfolder if subfolder else folder
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder.")
    return folder


def cycled(items: list, count: int) -> list:
    """`count` items, cycling through `items` (balanced when count is a multiple of len(items))."""
    return [items[index % len(items)] for index in range(count)]


def load_teacher(
    name_or_path: str | None = None,
    *,
    subfolder: str | None = None,
    revision: str | None = None,
    model_type: str | None = None,
    tokenizer_name_or_path: str | None = None,
    seq_len: int | None = None,
    prompts: list[str] | None = None,
    class_labels: list[int] | None = None,
    guidance_scale: float | None = None,
    allow_special_tokens: bool = False,
    trust_remote_code: bool = False,
    num_states: int = 32,
) -> Teacher:
    """Load a frozen model of any supported kind as a `Teacher` (see the module's table).

    Args:
        name_or_path (`str`, *optional*): a folder or Hub repo id; None or `"countdown"` is the exact oracle.
        subfolder (`str`, *optional*), revision (`str`, *optional*): where in the repo, and which commit.
        model_type (`str`, *optional*): transformers models: `"masked_lm"` (BERT-style), `"llada"`, `"mdlm"` or
            `"sedd"`; guessed from the config when not given.
        tokenizer_name_or_path (`str`, *optional*): transformers models whose folder holds no tokenizer.
        seq_len (`int`, *optional*): positions per sequence (text: default the model's maximum, at most 128;
            aMUSEd: a square token grid, default its own).
        prompts (`list[str]`, *optional*): prefixes (text models) or image prompts (aMUSEd); rows cycle through them.
        class_labels (`list[int]`, *optional*): classes rows cycle through (class-conditional image models; default
            every class, balanced).
        guidance_scale (`float`, *optional*): classifier-free guidance of image models (default 2.0 for our VQ
            pipelines, 10.0 for aMUSEd).
        allow_special_tokens (`bool`, defaults to `False`): let text samplers draw special ids.
        trust_remote_code (`bool`, defaults to `False`): for transformers models with custom code (LLaDA, MDLM).
        num_states (`int`, defaults to 32): the countdown oracle's V.
    """
    if name_or_path in (None, "countdown"):
        return countdown_teacher(num_states, seq_len or 256)
    folder = resolve_folder(name_or_path, subfolder, revision)
    if (folder / "model_index.json").is_file():
        class_name = json.loads((folder / "model_index.json").read_text()).get("_class_name")
        if class_name == "LSDMaskedTextPipeline":
            pipe = LSDMaskedTextPipeline.from_pretrained(folder)
            return text_teacher(pipe, f"{class_name} {name_or_path}", seq_len, prompts, allow_special_tokens)
        if class_name == "LSDVQImagePipeline":
            return vq_image_teacher(
                LSDVQImagePipeline.from_pretrained(folder), name_or_path, class_labels, guidance_scale
            )
        if class_name == "AmusedPipeline":
            from diffusers import AmusedPipeline

            return amused_teacher(
                AmusedPipeline.from_pretrained(folder), name_or_path, prompts, guidance_scale, seq_len
            )
        raise ValueError(
            f"{folder} holds a {class_name!r} pipeline; supported: LSDMaskedTextPipeline, "
            "LSDVQImagePipeline, AmusedPipeline."
        )
    if (folder / "transformer").is_dir() and (folder / "scheduler").is_dir():
        model = MaskedDiffusionTransformer.from_pretrained(folder / "transformer").eval()
        scheduler = baseline_of(LSDDiscreteScheduler.from_pretrained(folder / "scheduler"))
        if model.config.vocab_size != scheduler.config.vocab_size:
            raise ValueError(
                f"The transformer reads {model.config.vocab_size} ids, the scheduler {scheduler.config.vocab_size}."
            )
        length = seq_len or model.config.max_seq_len
        return Teacher(
            NativeAdapter(model, scheduler.config.vocab_size),
            scheduler,
            length,
            f"MaskedDiffusionTransformer {name_or_path}",
        )
    if (folder / "config.json").is_file():
        return transformers_teacher(
            folder,
            name_or_path,
            model_type,
            tokenizer_name_or_path,
            seq_len,
            prompts,
            allow_special_tokens,
            trust_remote_code,
        )
    raise ValueError(
        f"Cannot tell what {folder} holds: expected a model_index.json (a pipeline), transformer/ and scheduler/ "
        "folders (examples/train_teacher.py), or a transformers config.json."
    )


def countdown_teacher(num_states: int, seq_len: int) -> Teacher:
    """The exact countdown oracle (docs/schedulers.md, "The exact oracle"): nothing to download."""
    initial, transition = countdown_chain(num_states)
    oracle = MarkovChainOracle(initial, transition)
    scheduler = LSDDiscreteScheduler(vocab_size=oracle.vocab_size, mask_token_id=oracle.mask_token_id)
    return Teacher(
        oracle,
        scheduler,
        seq_len,
        f"the exact countdown oracle (V={num_states}, L={seq_len})",
        task_metrics=lambda samples: countdown_metrics(samples, initial),
    )


def text_teacher(
    pipe: LSDMaskedTextPipeline,
    description: str,
    seq_len: int | None,
    prompts: list[str] | None,
    allow_special_tokens: bool = False,
    adapter=None,
) -> Teacher:
    """A text pipeline as a teacher: its denoiser, and templates with the prompts (cycled) in place."""
    pipe.scheduler = baseline_of(pipe.scheduler)
    pipe.check_components()
    config = getattr(pipe.transformer, "config", None)
    maximum = getattr(config, "max_seq_len", None) or getattr(config, "max_position_embeddings", None) or 128
    length = seq_len or min(int(maximum), 128)

    def start(batch_size: int, generator: torch.Generator | None) -> torch.LongTensor:
        batch_prompts = None if not prompts else cycled(list(prompts), batch_size)
        return pipe.template(batch_size, length, batch_prompts, generator=generator)[0].cpu()

    return Teacher(
        pipe.denoiser(allow_special_tokens, adapter),
        pipe.scheduler,
        length,
        description,
        start,
        pipe,
        details={"prompts": len(prompts or [])},
    )


def vq_image_teacher(
    pipe: LSDVQImagePipeline, name: str, class_labels: list[int] | None, guidance_scale: float | None
) -> Teacher:
    """A VQ image pipeline: balanced classes (or `class_labels`) with guidance; the token grid in the scheduler."""
    grid = pipe.token_grid_shape
    scheduler = baseline_of(pipe.scheduler, token_grid_shape=grid)
    pipe.scheduler = scheduler
    vocab_size = scheduler.config.vocab_size
    guidance = 2.0 if guidance_scale is None else guidance_scale
    if pipe.transformer.config.get("num_classes"):
        denoiser = ClassConditionalAdapter(pipe.transformer.eval(), None, guidance, vocab_size, classes=class_labels)
        description = f"LSDVQImagePipeline {name} (classes {class_labels or 'all, balanced'}, guidance {guidance})"
    elif class_labels:
        raise ValueError("class_labels were given but the transformer is not class-conditional.")
    else:
        denoiser, description = NativeAdapter(pipe.transformer.eval(), vocab_size), f"LSDVQImagePipeline {name}"
    return Teacher(denoiser, scheduler, grid[0] * grid[1], description, pipeline=pipe, grid=tuple(grid))


def amused_teacher(
    pipe, name: str, prompts: list[str] | None, guidance_scale: float | None, seq_len: int | None = None
) -> Teacher:
    """diffusers' AmusedPipeline: prompts through its CLIP text encoder, guidance against the empty prompt.

    The token grid is aMUSEd's default (`transformer.config.sample_size` a side), or `seq_len` tokens in a square.
    """
    if not prompts:
        raise ValueError("An AmusedPipeline teacher needs prompts (--prompts FILE): it is text-conditioned.")
    transformer = pipe.transformer
    side = transformer.config.sample_size if seq_len is None else math.isqrt(seq_len)
    if side * side != (seq_len or side * side):
        raise ValueError(f"seq_len={seq_len} is not a square token grid.")
    mask_id = pipe.scheduler.config.mask_token_id
    codebook = transformer.config.codebook_size
    vocab_size = max(mask_id + 1, codebook)
    # aMUSEd scores its codebook (8192 ids) and reads ids up to its mask id (8255): the rest get probability 0
    scored = codebook if codebook <= mask_id else None
    scheduler = LSDDiscreteScheduler(
        vocab_size=vocab_size,
        mask_token_id=mask_id,
        noise_schedule="cosine",
        scored_vocab_size=scored,
        token_grid_shape=[side, side],
    )
    guidance = 10.0 if guidance_scale is None else guidance_scale
    denoiser = AmusedAdapter(pipe, list(prompts), (side, side), vocab_size, guidance)
    pipe.scheduler = scheduler
    return Teacher(
        denoiser,
        scheduler,
        side * side,
        f"AmusedPipeline {name} ({len(prompts)} prompts, guidance {guidance})",
        pipeline=pipe,
        grid=(side, side),
    )


def guess_model_type(config) -> str:
    """`model_type` of a transformers config: LLaDA, MDLM and SEDD by name, every other model a masked LM."""
    name = f"{getattr(config, 'model_type', '')} {' '.join(getattr(config, 'architectures', None) or [])}".lower()
    for model_type in ("llada", "mdlm", "sedd"):
        if model_type in name:
            return model_type
    return "masked_lm"


def transformers_teacher(
    folder: Path,
    name: str,
    model_type: str | None,
    tokenizer_name_or_path: str | None,
    seq_len: int | None,
    prompts: list[str] | None,
    allow_special_tokens: bool,
    trust_remote_code: bool,
) -> Teacher:
    """A transformers model with its tokenizer, wrapped in an `LSDMaskedTextPipeline`."""
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer

    config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
    model_type = model_type or guess_model_type(config)
    if model_type not in MODEL_TYPES:
        raise ValueError(f"Unknown model_type {model_type!r}; expected one of {MODEL_TYPES}.")
    try:  # an LM head where transformers knows one; custom diffusion models (LLaDA, MDLM) map AutoModel to theirs
        model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except ValueError:
        model = AutoModel.from_pretrained(folder, trust_remote_code=trust_remote_code)
    model = model.eval()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_name_or_path or folder, trust_remote_code=trust_remote_code)
    if tokenizer.mask_token_id is None:
        raise ValueError(f"The tokenizer of {name} has no mask token: a masked diffusion teacher needs one.")
    vocab_size = max(len(tokenizer), tokenizer.mask_token_id + 1)
    prediction_type = "log_score" if model_type == "sedd" else "x0_logits"
    scheduler = LSDDiscreteScheduler(
        vocab_size=vocab_size, mask_token_id=tokenizer.mask_token_id, prediction_type=prediction_type
    )
    if model_type == "sedd":
        adapter = SEDDAdapter(model, scheduler.noise, vocab_size)
    else:
        adapter = ADAPTERS[model_type](model, vocab_size)
    pipe = LSDMaskedTextPipeline(transformer=model, tokenizer=tokenizer, scheduler=scheduler)
    teacher = text_teacher(
        pipe,
        f"{type(model).__name__} {name} ({model_type})",
        seq_len,
        prompts,
        allow_special_tokens or model_type == "sedd",
        adapter,
    )
    teacher.details["model_type"] = model_type
    return teacher


class BlockDenoiser:
    """A denoiser of one block `start:end` of the sequence, the rest held at a context (row i uses context
    i mod K): what semi-autoregressive decoding asks of the model inside one block.

    Args:
        denoiser (`Callable`): the full-sequence denoiser.
        contexts (`torch.LongTensor`): `[K, L]` full sequences (earlier blocks generated, later ones masked).
        start (`int`), end (`int`): the block.
    """

    def __init__(self, denoiser: Denoiser, contexts: torch.LongTensor, start: int, end: int):
        self.denoiser, self.contexts, self.start, self.end = denoiser, contexts, start, end
        self.prediction_type = getattr(denoiser, "prediction_type", "x0_logits")

    def full(self, sample: torch.LongTensor) -> torch.LongTensor:
        """The full sequences of a batch of block states."""
        rows = self.contexts[torch.arange(sample.shape[0]) % len(self.contexts)].to(sample.device)
        return torch.cat([rows[:, : self.start], sample, rows[:, self.end :]], dim=1)

    def __call__(self, sample: torch.LongTensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.denoiser(self.full(sample), timesteps)[:, self.start : self.end]


def block_teacher(teacher: Teacher, block_length: int, num_steps: int, num_contexts: int, seed: int = 0) -> Teacher:
    """The teacher of semi-autoregressive decoding: the block after the first one with positions to generate, with
    that first block generated by the baseline sampler (`num_steps` steps) as context and later blocks masked.

    Args:
        teacher (`Teacher`): an absorbing-noise teacher whose sequences are at least two blocks long.
        block_length (`int`): positions per block.
        num_steps (`int`): the baseline sampler's steps for the context block (the teacher's N).
        num_contexts (`int`): how many context sequences to draw (rows cycle through them).
        seed (`int`, defaults to 0): the contexts' generator seed.
    """
    if not teacher.scheduler.is_absorbing:
        raise ValueError("Block decoding needs absorbing noise (later blocks wait masked).")
    if not isinstance(block_length, int) or block_length < 1:
        raise ValueError(f"block_length must be a positive integer, got {block_length!r}.")
    mask = teacher.scheduler.config.mask_token_id
    generator = torch.Generator().manual_seed(seed)
    contexts = teacher.start_states(num_contexts, generator)
    blocks = [(start, min(start + block_length, teacher.seq_len)) for start in range(0, teacher.seq_len, block_length)]
    blocks = [(start, end) for start, end in blocks if (contexts[:, start:end] == mask).any()]
    if len(blocks) < 2:
        raise ValueError(
            f"block_length={block_length} leaves fewer than two blocks to generate in seq_len="
            f"{teacher.seq_len}: nothing to learn a later block with."
        )
    contexts = generate(
        teacher.denoiser,
        teacher.scheduler,
        num_inference_steps=num_steps,
        generator=generator,
        sample=contexts,
        block=blocks[0],
    )
    start, end = blocks[1]

    def start_states(batch_size: int, generator: torch.Generator | None) -> torch.LongTensor:
        return contexts[torch.arange(batch_size) % len(contexts), start:end].clone()

    details = {**teacher.details, "block": [start, end], "context_block": list(blocks[0])}
    return Teacher(
        BlockDenoiser(teacher.denoiser, contexts, start, end),
        teacher.scheduler,
        end - start,
        f"{teacher.description}, block {start}:{end} after a context block",
        start_states,
        teacher.pipeline,
        teacher.task_metrics,
        teacher.grid,
        details,
    )
