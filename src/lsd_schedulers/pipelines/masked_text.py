"""LSDMaskedTextPipeline: text generation (unconditional, prefix-conditioned or infilling) with a masked DDM."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers.utils import BaseOutput

from ..models.adapters import as_denoiser
from ..sampling import initial_noise
from ..scheduling_lsd import LSDDiscreteScheduler
from .pipeline_utils import SnapshotLoadingPipeline


@dataclass
class MaskedTextPipelineOutput(BaseOutput):
    """Output of `LSDMaskedTextPipeline`.

    Args:
        sequences (`torch.LongTensor` of shape `(batch_size, seq_len)`): the generated token ids.
        texts (`list[str]`, *optional*): the decoded sequences (`output_type="text"`).
    """

    sequences: torch.LongTensor
    texts: list[str] | None = None


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

    def _template(
        self,
        batch_size: int,
        seq_len: int | None,
        prompt: str | list[str] | None,
        input_ids: torch.LongTensor | None,
        infill_mask: torch.Tensor | None,
        generator,
    ) -> tuple[torch.LongTensor, torch.BoolTensor]:
        """The starting x_1 and the positions to generate (True); other positions are kept as given."""
        device = self._execution_device
        if prompt is not None and input_ids is not None:
            raise ValueError("Pass either prompt or input_ids, not both.")
        if prompt is not None:
            prompts = [prompt] * batch_size if isinstance(prompt, str) else list(prompt)
            if len(prompts) != batch_size:
                raise ValueError(f"Got {len(prompts)} prompts for batch_size={batch_size}.")
            encoded = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in prompts]
            seq_len = seq_len or max(map(len, encoded)) + 64
            if max(map(len, encoded)) >= seq_len:
                raise ValueError(f"A prompt of {max(map(len, encoded))} tokens leaves no room in seq_len={seq_len}.")
            input_ids = torch.full((batch_size, seq_len), self.scheduler.config.mask_token_id or 0, dtype=torch.long)
            infill = torch.ones(batch_size, seq_len, dtype=torch.bool)
            for row, ids in enumerate(encoded):
                input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                infill[row, : len(ids)] = False
            infill_mask = infill if infill_mask is None else infill_mask
        if input_ids is not None:
            input_ids = torch.as_tensor(input_ids, dtype=torch.long)
            input_ids = input_ids.expand(batch_size, -1) if input_ids.dim() == 1 else input_ids
            if input_ids.shape[0] != batch_size:
                raise ValueError(f"input_ids has {input_ids.shape[0]} rows for batch_size={batch_size}.")
            seq_len = input_ids.shape[1]
        if seq_len is None:
            raise ValueError("Pass seq_len (or a prompt / input_ids that fixes it).")
        noise = initial_noise(self.scheduler, (batch_size, seq_len), generator, device)
        if infill_mask is None:
            everything = torch.ones(batch_size, seq_len, dtype=torch.bool)
            infill_mask = everything if input_ids is None else input_ids == self.scheduler.config.mask_token_id
        infill_mask = torch.as_tensor(infill_mask, dtype=torch.bool).to(device).expand(batch_size, seq_len)
        if input_ids is None:
            return noise, infill_mask
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
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "text",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> MaskedTextPipelineOutput | tuple:
        """Generate sequences.

        Args:
            batch_size (`int`, defaults to 1): sequences to generate.
            seq_len (`int`, *optional*): their length (defaults to the prompt's plus 64 or to `input_ids`').
            num_inference_steps (`int`, *optional*): model calls; defaults to the scheduler's learned count.
            prompt (`str` or `list[str]`, *optional*): a prefix to continue.
            input_ids (`torch.LongTensor`, *optional*): a template of token ids; with `infill_mask`, the kept tokens.
            infill_mask (`torch.Tensor`, *optional*): True where tokens are generated (default: the MASK positions of
                `input_ids`, everything after the prompt, or everything).
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
        config = self.scheduler.config
        denoiser = as_denoiser(self.transformer, config.vocab_size, self.scheduler.noise)
        template, infill = self._template(batch_size, seq_len, prompt, input_ids, infill_mask, generator)
        sample = template
        self.scheduler.set_timesteps(num_inference_steps, device=sample.device)
        with self.progress_bar(total=len(self.scheduler.timesteps)) as progress:
            for index, t in enumerate(self.scheduler.timesteps):
                model_output = denoiser(sample, t)
                sample = self.scheduler.step(model_output, t, sample, generator=generator).prev_sample
                sample = torch.where(infill, sample, template)  # kept positions never change
                if callback_on_step_end is not None:
                    step_tensors = {"sample": sample}
                    outputs = callback_on_step_end(
                        self, index, t, {name: step_tensors[name] for name in tensor_inputs}
                    )
                    sample = outputs.pop("sample", sample)
                progress.update()

        texts = self.tokenizer.batch_decode(sample.tolist()) if output_type == "text" else None
        self.maybe_free_model_hooks()
        if not return_dict:
            return (sample, texts)
        return MaskedTextPipelineOutput(sequences=sample, texts=texts)
