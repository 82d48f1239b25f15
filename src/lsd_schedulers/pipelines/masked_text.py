"""LSDMaskedTextPipeline: text generation (unconditional, prefix-conditioned or infilling) with a masked DDM."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers.utils import BaseOutput

from ..models.adapters import as_denoiser
from ..sampling import initial_noise
from ..scheduling_lsd import LSDDiscreteScheduler
from ..validation import check_generator, check_integer, check_token_ids
from .pipeline_utils import SnapshotLoadingPipeline


@dataclass
class MaskedTextPipelineOutput(BaseOutput):
    """Output of `LSDMaskedTextPipeline`.

    Args:
        sequences (`torch.LongTensor` of shape `(batch_size, seq_len)`): the generated token ids.
        texts (`list[str]`, *optional*): the decoded sequences without special tokens (`output_type="text"`).
        nfe (`int`, *optional*): model calls made: blocks x steps.
    """

    sequences: torch.LongTensor
    texts: list[str] | None = None
    nfe: int | None = None


class LSDMaskedTextPipeline(SnapshotLoadingPipeline):
    """Generate text with a masked discrete diffusion model and any scheduler of the LSD family.

    Args:
        transformer: the denoiser: a `MaskedDiffusionTransformer`, a transformers masked LM, or an MDLM / SEDD /
            LLaDA-style model (see `lsd_schedulers.models.adapters`).
        tokenizer: a transformers tokenizer whose ids match the model's.
        scheduler (`LSDDiscreteScheduler`): baseline or learned, e.g. `LSDPlusScheduler.from_pretrained(...)`.
    """

    model_cpu_offload_seq = "transformer"
    _callback_tensor_inputs = ["sample"]

    def __init__(self, transformer, tokenizer, scheduler: LSDDiscreteScheduler):
        super().__init__()
        self.register_modules(transformer=transformer, tokenizer=tokenizer, scheduler=scheduler)

    def check_components(self) -> None:
        """The scheduler, the tokenizer and the model must agree on the vocabulary and the mask id."""
        config, tokenizer = self.scheduler.config, self.tokenizer
        if len(tokenizer) > config.vocab_size:
            raise ValueError(
                f"The tokenizer has {len(tokenizer)} ids but the scheduler's vocab_size is {config.vocab_size}: "
                "the scheduler must cover every id the tokenizer can produce."
            )
        if config.forward_process == "absorbing" and tokenizer.mask_token_id is not None:
            if tokenizer.mask_token_id != config.mask_token_id:
                raise ValueError(
                    f"The scheduler's mask_token_id {config.mask_token_id} is not the tokenizer's mask id "
                    f"{tokenizer.mask_token_id} ({tokenizer.mask_token!r}); pass mask_token_id="
                    f"{tokenizer.mask_token_id} to the scheduler."
                )
        model_mask = getattr(getattr(self.transformer, "config", None), "mask_token_id", None)
        if config.forward_process == "absorbing" and model_mask is not None and model_mask != config.mask_token_id:
            raise ValueError(f"The scheduler's mask_token_id {config.mask_token_id} is not the model's {model_mask}.")

    def special_token_ids(self) -> list[int]:
        """The tokenizer's special ids other than MASK (pad, cls, sep, unk, bos, eos...): never sampled by default."""
        mask = self.scheduler.config.mask_token_id
        return sorted(
            {int(i) for i in self.tokenizer.all_special_ids if i != mask and i < self.scheduler.config.vocab_size}
        )

    def denoiser(self, allow_special_tokens: bool = False, adapter=None):
        """The transformer as a denoiser `f(x_t, t)` for this pipeline's scheduler (special ids at probability 0).

        Args:
            allow_special_tokens (`bool`, defaults to `False`): keep the special ids' probabilities.
            adapter (`DenoiserAdapter`, *optional*): how to call the transformer (default: `as_denoiser`'s guess).
        """
        config = self.scheduler.config
        denoiser = adapter or as_denoiser(self.transformer, config.vocab_size, self.scheduler.noise)
        suppressed = [] if allow_special_tokens else self.special_token_ids()
        return SuppressedTokens(denoiser, suppressed) if suppressed else denoiser

    def template(
        self,
        batch_size: int,
        seq_len: int | None = None,
        prompt: str | list[str] | None = None,
        input_ids: torch.LongTensor | None = None,
        infill_mask: torch.Tensor | None = None,
        generator=None,
    ) -> tuple[torch.LongTensor, torch.BoolTensor]:
        """The starting x_1 and the positions to generate (True); other positions are kept as given.

        A prompt is encoded as the model was trained: the tokenizer's special tokens wrap prompt and generated
        positions together ([CLS] prompt [MASK]... [SEP] for a BERT tokenizer, `special_affixes`), and only the MASK
        positions are generated. `seq_len` counts every position, special tokens included.
        """
        device = self._execution_device
        if prompt is not None and input_ids is not None:
            raise ValueError("Pass either prompt or input_ids, not both.")
        mask = self.scheduler.config.mask_token_id
        if input_ids is None:
            prompts = [prompt] * batch_size if prompt is None or isinstance(prompt, str) else list(prompt)
            if len(prompts) != batch_size:
                raise ValueError(f"Got {len(prompts)} prompts for batch_size={batch_size}.")
            encoded = [
                [] if text is None else self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in prompts
            ]
            prefix, suffix = special_affixes(self.tokenizer)
            specials = len(prefix) + len(suffix)
            longest = max(map(len, encoded))
            if seq_len is None:
                if prompt is None:
                    raise ValueError("Pass seq_len (or a prompt / input_ids that fixes it).")
                seq_len = longest + 64 + specials
            if longest + specials >= seq_len:
                raise ValueError(
                    f"A prompt of {longest} tokens (and {specials} special tokens) leaves no room in "
                    f"seq_len={seq_len}."
                )
            rows = [prefix + ids + [mask] * (seq_len - specials - len(ids)) + suffix for ids in encoded]
            input_ids = torch.tensor(rows, dtype=torch.long)
            infill_mask = (input_ids == mask) if infill_mask is None else infill_mask
        else:
            input_ids = check_token_ids("input_ids", input_ids, self.scheduler.config.vocab_size)
            if input_ids.dim() not in (1, 2):
                raise ValueError(
                    f"input_ids must have shape (seq_len,) or (batch_size, seq_len), got {tuple(input_ids.shape)}."
                )
            if seq_len is not None and seq_len != input_ids.shape[-1]:
                raise ValueError(f"seq_len={seq_len} disagrees with input_ids of length {input_ids.shape[-1]}.")
        input_ids = input_ids.expand(batch_size, -1) if input_ids.dim() == 1 else input_ids
        if input_ids.shape[0] != batch_size:
            raise ValueError(f"input_ids has {input_ids.shape[0]} rows for batch_size={batch_size}.")
        seq_len = input_ids.shape[1]
        noise = initial_noise(self.scheduler, (batch_size, seq_len), generator, device)
        if infill_mask is None:
            infill_mask = input_ids == mask
        infill_mask = torch.as_tensor(infill_mask)
        if infill_mask.dtype != torch.bool or infill_mask.shape[-1] != seq_len:
            raise ValueError(
                f"infill_mask must be a bool tensor of shape (seq_len,) or (batch_size, seq_len) with "
                f"seq_len={seq_len}, got {infill_mask.dtype} {tuple(infill_mask.shape)}."
            )
        infill_mask = infill_mask.to(device).expand(batch_size, seq_len)
        return torch.where(infill_mask, noise, input_ids.to(device)), infill_mask

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        seq_len: int | None = None,
        num_inference_steps: int | None = None,
        prompt: str | list[str] | None = None,
        input_ids: torch.LongTensor | None = None,
        infill_mask: torch.Tensor | None = None,
        block_length: int | None = None,
        allow_special_tokens: bool = False,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "text",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> MaskedTextPipelineOutput | tuple:
        """Generate sequences.

        Args:
            batch_size (`int`, defaults to 1): sequences to generate.
            seq_len (`int`, *optional*): their length, special tokens included (defaults to the prompt's plus 64
                or to `input_ids`').
            num_inference_steps (`int`, *optional*): model calls per block; defaults to the scheduler's learned count.
            prompt (`str` or `list[str]`, *optional*): a prefix to continue.
            input_ids (`torch.LongTensor`, *optional*): a template of token ids; with `infill_mask`, the kept tokens.
            infill_mask (`torch.Tensor`, *optional*): True where tokens are generated (default: the MASK positions of
                the template).
            block_length (`int`, *optional*): semi-autoregressive decoding, as LLaDA samples: the positions are cut
                into blocks of this many, generated left to right, each with all the scheduler's steps while later
                blocks stay masked. NFE = blocks x steps. None (default) is one block.
            allow_special_tokens (`bool`, defaults to `False`): let the sampler draw the tokenizer's special ids
                (pad, cls, sep, unk...); by default they get probability 0.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the source of randomness.
            output_type (`str`, defaults to `"text"`): `"text"` (decoded and ids) or `"seq"` (ids only).
            return_dict (`bool`, defaults to `True`): return a `MaskedTextPipelineOutput` instead of a tuple.
            callback_on_step_end (`Callable`, *optional*): `callback(pipe, step, timestep, kwargs) -> dict`; may
                return a replacement `sample`.
            callback_on_step_end_tensor_inputs (`list[str]`, *optional*): tensors passed to the callback.
        """
        if output_type not in ("text", "seq"):
            raise ValueError(f"output_type must be 'text' or 'seq', got {output_type!r}.")
        tensor_inputs = callback_on_step_end_tensor_inputs or ["sample"]
        if any(name not in self._callback_tensor_inputs for name in tensor_inputs):
            raise ValueError(f"callback_on_step_end_tensor_inputs must be among {self._callback_tensor_inputs}.")
        check_integer("batch_size", batch_size, minimum=1)
        check_integer("seq_len", seq_len, minimum=1, allow_none=True)
        check_generator(generator, batch_size)
        self.check_components()
        denoiser = self.denoiser(allow_special_tokens)
        template, infill = self.template(batch_size, seq_len, prompt, input_ids, infill_mask, generator)
        sample = template
        total = sample.shape[1]
        if block_length is not None and (not isinstance(block_length, int) or block_length < 1):
            raise ValueError(f"block_length must be a positive integer, got {block_length!r}.")
        block_length = block_length or total
        blocks = [(start, min(start + block_length, total)) for start in range(0, total, block_length)]
        blocks = [(start, end) for start, end in blocks if infill[:, start:end].any()]
        self.scheduler.set_timesteps(num_inference_steps, device=sample.device)
        steps = len(self.scheduler.timesteps)
        with self.progress_bar(total=steps * len(blocks)) as progress:
            for block, (start, end) in enumerate(blocks):
                for index, t in enumerate(self.scheduler.timesteps):
                    model_output = denoiser(sample, t)[:, start:end]
                    # the step sees the block only: later blocks stay masked, earlier ones are context
                    step = self.scheduler.step(model_output, t, sample[:, start:end], generator=generator)
                    kept = ~infill[:, start:end]
                    sample = sample.clone()
                    sample[:, start:end] = torch.where(kept, template[:, start:end], step.prev_sample)
                    if callback_on_step_end is not None:
                        step_tensors = {"sample": sample}
                        outputs = callback_on_step_end(
                            self, block * steps + index, t, {name: step_tensors[name] for name in tensor_inputs}
                        )
                        sample = torch.where(infill, outputs.pop("sample", sample), template)
                    progress.update()

        texts = (
            self.tokenizer.batch_decode(sample.tolist(), skip_special_tokens=True) if output_type == "text" else None
        )
        nfe = steps * len(blocks)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (sample, texts)
        return MaskedTextPipelineOutput(sequences=sample, texts=texts, nfe=nfe)


def special_affixes(tokenizer) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after a text when it adds special tokens ([CLS] and [SEP] for BERT)."""
    probe = tokenizer.mask_token or "a"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    return [], []


class SuppressedTokens:
    """A denoiser whose x0 logits give the ids `suppressed` probability 0 (-inf logits).

    Args:
        denoiser (`Callable`): any x0-logit denoiser `f(x_t, t)`.
        suppressed (`list[int]`): ids never to sample (special tokens).
    """

    def __init__(self, denoiser, suppressed: list[int]):
        self.denoiser = denoiser
        self.suppressed = list(suppressed)
        self.prediction_type = getattr(denoiser, "prediction_type", "x0_logits")
        if self.prediction_type != "x0_logits":
            raise ValueError("Special tokens can only be suppressed in x0 logits; pass allow_special_tokens=True.")

    def __call__(self, sample: torch.LongTensor, timesteps: torch.Tensor) -> torch.Tensor:
        output = self.denoiser(sample, timesteps).clone()
        output[..., self.suppressed] = -torch.inf
        return output
