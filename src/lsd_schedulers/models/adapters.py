"""Adapters that turn foreign masked-diffusion models into denoisers `f(x_t, t) -> model output` for our schedulers.

| adapter | model interface | scheduler `prediction_type` |
| --- | --- | --- |
| `NativeAdapter` | `MaskedDiffusionTransformer(input_ids, timesteps).logits` | `x0_logits` |
| `ClassConditionalAdapter` | the same with `class_labels`, and classifier-free guidance | `x0_logits` |
| `MaskedLMAdapter` | transformers masked LMs (BERT-style): `model(input_ids, attention_mask).logits` | `x0_logits` |
| `LLaDAAdapter` | LLaDA-style: `model(input_ids).logits`, MASK inside a padded vocabulary | `x0_logits` |
| `MDLMAdapter` | MDLM-style: `model(input_ids, timesteps)` (logits, or an output with `.logits`) | `x0_logits` |
| `SEDDAdapter` | SEDD-style: `model(indices, sigma)` returning log concrete scores | `log_score` |
| `AmusedAdapter` | aMUSEd: `UVit2DModel` with CLIP prompt embeddings and guidance, channels-first | `x0_logits` |

Every adapter slices the output to the scheduler's `vocab_size` (models often pad their vocabulary).
`AutocastDenoiser` runs any of them under mixed precision.
"""

import inspect

import torch

from ..noise_schedules import NoiseSchedule
from .masked_transformer import MaskedDiffusionTransformer


def _logits_of(output) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return output[0]
    return output.logits


class DenoiserAdapter:
    """Base: call the wrapped model and return `(batch, seq_len, vocab_size)` outputs.

    Args:
        model (`torch.nn.Module`): the wrapped model.
        vocab_size (`int`, *optional*): keep the first `vocab_size` output columns (defaults to all).
    """

    prediction_type = "x0_logits"

    def __init__(self, model: torch.nn.Module, vocab_size: int | None = None):
        self.model = model
        self.vocab_size = vocab_size

    def run(self, sample: torch.LongTensor, timesteps: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, sample: torch.LongTensor, timesteps: torch.Tensor) -> torch.Tensor:
        timesteps = torch.as_tensor(timesteps, device=sample.device).flatten().expand(sample.shape[0])
        output = self.run(sample, timesteps)
        if self.vocab_size is not None:
            if output.shape[-1] < self.vocab_size:
                raise ValueError(f"The model scores {output.shape[-1]} ids, fewer than vocab_size={self.vocab_size}.")
            output = output[..., : self.vocab_size]
        return output


class NativeAdapter(DenoiserAdapter):
    """Our own `MaskedDiffusionTransformer`."""

    def run(self, sample, timesteps):
        return self.model(sample, timesteps).logits


class AutocastDenoiser:
    """Run a denoiser under `torch.autocast` (e.g. bf16 on CPU: about 1.7x faster for our small transformers).

    The outputs come back as float32, so the schedulers' float64 draws see the same dtype as without autocast.

    Args:
        denoiser (`Callable`): any denoiser `f(x_t, t)`.
        dtype (`torch.dtype`, defaults to `torch.bfloat16`): the autocast dtype.
    """

    def __init__(self, denoiser, dtype: torch.dtype = torch.bfloat16):
        self.denoiser = denoiser
        self.dtype = dtype
        self.prediction_type = getattr(denoiser, "prediction_type", "x0_logits")

    @torch.no_grad()
    def __call__(self, sample: torch.LongTensor, timesteps: torch.Tensor) -> torch.Tensor:
        with torch.autocast(sample.device.type, dtype=self.dtype):
            output = self.denoiser(sample, timesteps)
        return output.float()


def guided_logits(conditional: torch.Tensor, unconditional: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    # classifier-free guidance: l_u + s (l_c - l_u); ids both score -inf (MASK) stay -inf
    guided = unconditional + guidance_scale * (conditional - unconditional)
    return torch.where(torch.isinf(conditional) & torch.isinf(unconditional), conditional, guided)


class ClassConditionalAdapter(DenoiserAdapter):
    """A class-conditional `MaskedDiffusionTransformer`, with classifier-free guidance.

    Args:
        model (`MaskedDiffusionTransformer`): a model with `num_classes` set.
        class_labels (`torch.LongTensor`, *optional*): one label per row; by default row i gets class
            `classes[i % len(classes)]` (balanced classes for any batch size, as distillation and benchmarks need).
        guidance_scale (`float`, defaults to 1.0): s in l_u + s (l_c - l_u); at most 1 means no guidance (one call).
        vocab_size (`int`, *optional*): keep the first `vocab_size` output columns.
        classes (`list[int]`, *optional*): the classes rows cycle through when `class_labels` is None (default all).
    """

    def __init__(
        self,
        model,
        class_labels: torch.LongTensor | None = None,
        guidance_scale: float = 1.0,
        vocab_size: int | None = None,
        classes: list[int] | None = None,
    ):
        super().__init__(model, vocab_size)
        num_classes = model.config.get("num_classes")
        if not num_classes:
            raise ValueError("ClassConditionalAdapter needs a class-conditional model (config.num_classes).")
        classes = list(range(num_classes)) if classes is None else [int(label) for label in classes]
        if not classes or any(not 0 <= label < num_classes for label in classes):
            raise ValueError(f"classes must be a non-empty list of labels in [0, {num_classes}), got {classes}.")
        self.class_labels = class_labels
        self.guidance_scale = guidance_scale
        self.classes = torch.tensor(classes, dtype=torch.long)

    def labels_for(self, batch: int, device: torch.device) -> torch.LongTensor:
        """The class of each of `batch` rows."""
        if self.class_labels is None:
            return self.classes[torch.arange(batch) % len(self.classes)].to(device)
        labels = torch.as_tensor(self.class_labels, device=device).long().flatten()
        if labels.numel() != batch:
            raise ValueError(f"The adapter holds {labels.numel()} class labels for a batch of {batch}.")
        return labels

    def run(self, sample, timesteps):
        labels = self.labels_for(sample.shape[0], sample.device)
        if self.guidance_scale <= 1.0:
            return self.model(sample, timesteps, class_labels=labels).logits
        null = torch.full_like(labels, self.model.config.num_classes)
        both = self.model(sample.repeat(2, 1), timesteps.repeat(2), class_labels=torch.cat([labels, null])).logits
        conditional, unconditional = both.chunk(2)
        return guided_logits(conditional, unconditional, self.guidance_scale)


class MaskedLMAdapter(DenoiserAdapter):
    """A transformers masked LM (BERT, RoBERTa, ModernBERT...): one-step denoiser of MASK tokens, time ignored."""

    def run(self, sample, timesteps):
        return _logits_of(self.model(input_ids=sample, attention_mask=torch.ones_like(sample)))


class LLaDAAdapter(DenoiserAdapter):
    """LLaDA-style models: `model(input_ids).logits`, with the MASK id (126336 for LLaDA-8B) inside the vocabulary."""

    def run(self, sample, timesteps):
        return _logits_of(self.model(sample))


class MDLMAdapter(DenoiserAdapter):
    """MDLM-style models: `model(input_ids, timesteps)`.

    Args:
        time_input (`str`, defaults to `"sigma"`): what the model's `timesteps` argument expects: the total noise
            `"sigma"` = -log alpha(t) (MDLM's convention) or the time `"t"` itself.
        noise_schedule (`NoiseSchedule`, *optional*): maps t to sigma; defaults to loglinear.
    """

    def __init__(self, model, vocab_size=None, time_input: str = "sigma", noise_schedule: NoiseSchedule | None = None):
        super().__init__(model, vocab_size)
        if time_input not in ("sigma", "t"):
            raise ValueError(f"time_input must be 'sigma' or 't', got {time_input!r}.")
        self.time_input = time_input
        self.noise_schedule = noise_schedule or NoiseSchedule()

    def run(self, sample, timesteps):
        if self.time_input == "sigma":
            timesteps = -torch.log(self.noise_schedule.alpha(timesteps))
        return _logits_of(self.model(sample, timesteps.float()))


class SEDDAdapter(DenoiserAdapter):
    """SEDD-style score models: `model(indices, sigma)` -> log concrete scores, sigma = -log alpha(t).

    Use with a scheduler whose `prediction_type="log_score"` and whose noise schedule matches the model's
    (`geometric` for SEDD's uniform models, `loglinear` for its absorbing ones).
    """

    prediction_type = "log_score"

    def __init__(self, model, noise_schedule: NoiseSchedule, vocab_size: int | None = None):
        super().__init__(model, vocab_size)
        self.noise_schedule = noise_schedule

    def run(self, sample, timesteps):
        sigma = -torch.log(self.noise_schedule.alpha(timesteps))
        return _logits_of(self.model(sample, sigma.float())).double()


class AmusedAdapter(DenoiserAdapter):
    """diffusers' aMUSEd (`AmusedPipeline`): the UVit2D transformer conditioned on CLIP prompt embeddings, with
    classifier-free guidance against the empty prompt, read as a denoiser of flattened `(B, H * W)` token grids.

    The transformer is time-independent. Its `(B, codebook, H, W)` logits come back as `(B, H * W, vocab_size)`,
    the ids past the codebook (aMUSEd's special ids and MASK) at -inf.

    Args:
        pipe (`AmusedPipeline`): the pipeline (its tokenizer, text encoder and transformer are used).
        prompts (`list[str]`): rows cycle through them.
        grid (`tuple[int, int]`): the token grid (height, width).
        vocab_size (`int`): the scheduler's vocabulary (mask id + 1).
        guidance_scale (`float`, defaults to 10.0): aMUSEd's default; at most 1 turns guidance off.
        aesthetic_score (`float`, defaults to 6.0): aMUSEd's micro-conditioning.
    """

    def __init__(
        self,
        pipe,
        prompts: list[str],
        grid: tuple[int, int],
        vocab_size: int,
        guidance_scale: float = 10.0,
        aesthetic_score: float = 6.0,
    ):
        super().__init__(pipe.transformer, vocab_size)
        if not prompts:
            raise ValueError("AmusedAdapter needs at least one prompt.")
        self.grid, self.guidance_scale = tuple(grid), guidance_scale
        self.prompt_embeds, self.hidden_states = self._encode(pipe, list(prompts))
        self.negative = self._encode(pipe, [""])
        height, width = (side * pipe.vae_scale_factor for side in self.grid)
        # micro-conditioning as aMUSEd passes it: width, height, crop (0, 0), aesthetic score
        self.micro_conds = torch.tensor([[width, height, 0, 0, aesthetic_score]], dtype=self.hidden_states.dtype)

    @staticmethod
    @torch.no_grad()
    def _encode(pipe, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = pipe.tokenizer(
            prompts,
            return_tensors="pt",
            padding="max_length",
            truncation=True,
            max_length=pipe.tokenizer.model_max_length,
        ).input_ids
        outputs = pipe.text_encoder(ids, return_dict=True, output_hidden_states=True)
        return outputs.text_embeds, outputs.hidden_states[-2]

    def run(self, sample, timesteps):
        batch = sample.shape[0]
        rows = torch.arange(batch) % len(self.prompt_embeds)
        embeds, hidden = self.prompt_embeds[rows], self.hidden_states[rows]
        latents = sample.view(batch, *self.grid)
        if self.guidance_scale > 1.0:
            embeds = torch.cat([self.negative[0].expand(batch, -1), embeds])
            hidden = torch.cat([self.negative[1].expand(batch, -1, -1), hidden])
            latents = latents.repeat(2, 1, 1)
        micro_conds = self.micro_conds.expand(latents.shape[0], -1)
        logits = self.model(latents, micro_conds=micro_conds, pooled_text_emb=embeds, encoder_hidden_states=hidden)
        if self.guidance_scale > 1.0:
            unconditional, conditional = logits.chunk(2)
            logits = unconditional + self.guidance_scale * (conditional - unconditional)
        logits = logits.flatten(2).transpose(1, 2).float()  # (B, codebook, H, W) -> (B, H * W, codebook)
        padding = logits.new_full((batch, logits.shape[1], self.vocab_size - logits.shape[-1]), -torch.inf)
        return torch.cat([logits, padding], dim=-1)


def as_denoiser(model, vocab_size: int | None = None, noise_schedule: NoiseSchedule | None = None) -> DenoiserAdapter:
    """Pick the adapter for `model` from its class and its forward signature.

    Args:
        model: a `MaskedDiffusionTransformer`, a transformers model, or an adapter (returned as is).
        vocab_size (`int`, *optional*): the scheduler's vocabulary size.
        noise_schedule (`NoiseSchedule`, *optional*): for models that take the noise level (MDLM, SEDD).
    """
    if isinstance(model, DenoiserAdapter):
        return model
    if isinstance(model, MaskedDiffusionTransformer):
        if model.config.get("num_classes"):
            return ClassConditionalAdapter(model, vocab_size=vocab_size)
        return NativeAdapter(model, vocab_size)
    parameters = inspect.signature(model.forward).parameters
    if "sigma" in parameters:
        return SEDDAdapter(model, noise_schedule or NoiseSchedule(), vocab_size)
    if "timesteps" in parameters:
        return MDLMAdapter(model, vocab_size, noise_schedule=noise_schedule)
    if "attention_mask" in parameters:
        return MaskedLMAdapter(model, vocab_size)
    return LLaDAAdapter(model, vocab_size)
