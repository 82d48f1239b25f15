"""LSDVQImagePipeline: class-conditional image generation with a masked denoiser over VQ tokens."""

from collections.abc import Callable

import torch
from diffusers import VQModel
from diffusers.image_processor import VaeImageProcessor
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

from ..models.adapters import ClassConditionalAdapter, NativeAdapter
from ..models.masked_transformer import MaskedDiffusionTransformer
from ..scheduling_lsd import LSDDiscreteScheduler
from ..validation import check_integer, check_real, check_token_ids
from .pipeline_utils import SnapshotLoadingPipeline

OUTPUT_TYPES = ("pil", "np", "pt", "latent")


class LSDVQImagePipeline(SnapshotLoadingPipeline):
    """Generate images as VQ token grids with a masked discrete diffusion model and any scheduler of the LSD family.

    Args:
        vqvae (`VQModel`): decodes token grids to images (`lookup_from_codebook=True`).
        transformer (`MaskedDiffusionTransformer`): the masked token denoiser, class-conditional (`num_classes`)
            or not; it reads `num_vq_embeddings + 1` ids, the last one being MASK.
        scheduler (`LSDDiscreteScheduler`): baseline or learned, e.g. `LSDPlusScheduler.from_pretrained(...)`.
    """

    model_cpu_offload_seq = "transformer->vqvae"
    _callback_tensor_inputs = ["latents"]

    def __init__(self, vqvae: VQModel, transformer: MaskedDiffusionTransformer, scheduler: LSDDiscreteScheduler):
        super().__init__()
        self.register_modules(vqvae=vqvae, transformer=transformer, scheduler=scheduler)
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor, do_normalize=True)

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per token along each side."""
        return 2 ** (len(self.vqvae.config.block_out_channels) - 1)

    @property
    def token_grid_shape(self) -> list[int]:
        """Tokens per column and per row of an image of the default size (`vqvae.config.sample_size` pixels)."""
        side = self.vqvae.config.sample_size // self.vae_scale_factor
        return [side, side]

    def _class_labels(self, class_labels, num_images_per_prompt: int, device: torch.device) -> torch.LongTensor | None:
        """One label per image (each requested label repeated `num_images_per_prompt` times), None if unconditional."""
        if class_labels is None:
            return None
        num_classes = self.transformer.config.get("num_classes")
        if not num_classes:
            raise ValueError("class_labels were given but the transformer is not class-conditional.")
        values = torch.as_tensor(class_labels).flatten()
        if values.is_floating_point() and not bool((values == values.round()).all()):
            raise ValueError(f"class_labels must be integers, got {values.tolist()}.")
        labels = values.long()
        if labels.numel() == 0 or ((labels < 0) | (labels >= num_classes)).any():
            raise ValueError(f"class_labels must be non-empty and lie in [0, {num_classes}), got {labels.tolist()}.")
        return labels.repeat_interleave(num_images_per_prompt).to(device)

    def _check_components(self) -> None:
        """The VQModel, the transformer and the scheduler must agree: codebook + MASK ids, absorbing noise."""
        codebook, config = self.vqvae.config.num_vq_embeddings, self.scheduler.config
        if not self.vqvae.config.lookup_from_codebook:
            raise ValueError("The VQModel must be built with lookup_from_codebook=True to decode token ids.")
        if config.vocab_size != codebook + 1 or self.transformer.config.vocab_size != config.vocab_size:
            raise ValueError(
                f"The scheduler's vocab_size ({config.vocab_size}) and the transformer's "
                f"({self.transformer.config.vocab_size}) must both be the codebook size + 1 ({codebook + 1})."
            )
        if config.forward_process != "absorbing":
            raise ValueError("LSDVQImagePipeline needs an absorbing (masked) scheduler; this one has uniform noise.")
        masks = {"scheduler": config.mask_token_id, "transformer": self.transformer.config.get("mask_token_id")}
        for owner, mask in masks.items():
            if mask is not None and mask != codebook:
                raise ValueError(f"The {owner}'s mask_token_id {mask} must be the id after the codebook ({codebook}).")

    @torch.no_grad()
    def decode_tokens(self, tokens: torch.LongTensor, batch_size: int = 500) -> torch.Tensor:
        """Images in [-1, 1] of shape `(N, C, H, W)` from token grids `(N, h, w)`, decoded `batch_size` at a time."""
        channels = self.vqvae.config.vq_embed_dim or self.vqvae.config.latent_channels
        decoded = [
            self.vqvae.decode(part, force_not_quantize=True, shape=(*part.shape, channels)).sample
            for part in tokens.split(batch_size)
        ]
        return torch.cat(decoded).clamp(-1, 1)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: int | list[int] | torch.LongTensor | None = None,
        num_images_per_prompt: int = 1,
        num_inference_steps: int | None = None,
        guidance_scale: float = 1.0,
        height: int | None = None,
        width: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.LongTensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> ImagePipelineOutput | tuple:
        """Generate images.

        Args:
            class_labels (`int`, `list[int]` or `torch.LongTensor`, *optional*): classes to draw; None draws
                unconditionally (the null class).
            num_images_per_prompt (`int`, defaults to 1): images per class label (the batch size when unconditional).
            num_inference_steps (`int`, *optional*): model calls; defaults to the scheduler's learned count.
            guidance_scale (`float`, defaults to 1.0): classifier-free guidance l_u + s (l_c - l_u); at most 1 turns
                it off (one model call per step instead of two).
            height, width (`int`, *optional*): image size in pixels (default: the VQModel's `sample_size`).
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the source of randomness.
            latents (`torch.LongTensor` of shape `(batch_size, height // f, width // f)`, *optional*): a starting
                token grid; MASK ids are generated, other tokens kept.
            output_type (`str`, defaults to `"pil"`): `"pil"`, `"np"`, `"pt"` or `"latent"` (the token grids).
            return_dict (`bool`, defaults to `True`): return an `ImagePipelineOutput` instead of a tuple.
            callback_on_step_end (`Callable`, *optional*): `callback(pipe, step, timestep, kwargs) -> dict`; may
                return replacement `latents` (flattened token ids).
            callback_on_step_end_tensor_inputs (`list[str]`, *optional*): tensors passed to the callback.
        """
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}.")
        tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]
        if any(name not in self._callback_tensor_inputs for name in tensor_inputs):
            raise ValueError(f"callback_on_step_end_tensor_inputs must be among {self._callback_tensor_inputs}.")
        self._check_components()
        check_integer("num_images_per_prompt", num_images_per_prompt, minimum=1)
        check_real("guidance_scale", guidance_scale)
        device = self._execution_device
        labels = self._class_labels(class_labels, num_images_per_prompt, device)
        batch_size = num_images_per_prompt if labels is None else labels.numel()

        mask_id = self.scheduler.config.mask_token_id
        if latents is None:
            height = self.vqvae.config.sample_size if height is None else height
            width = self.vqvae.config.sample_size if width is None else width
            check_integer("height", height, minimum=self.vae_scale_factor)
            check_integer("width", width, minimum=self.vae_scale_factor)
            if height % self.vae_scale_factor or width % self.vae_scale_factor:
                raise ValueError(f"height and width must be multiples of {self.vae_scale_factor}: {height}x{width}.")
            grid = (height // self.vae_scale_factor, width // self.vae_scale_factor)
            latents = torch.full((batch_size, *grid), mask_id, dtype=torch.long, device=device)
        else:
            latents = check_token_ids("latents", latents, self.scheduler.config.vocab_size).to(device)
            if latents.dim() != 3 or latents.shape[0] != batch_size:
                raise ValueError(f"latents must have shape ({batch_size}, h, w), got {tuple(latents.shape)}.")
            grid = tuple(latents.shape[1:])
        template = latents.flatten(1)
        generate = template == mask_id

        vocab_size = self.scheduler.config.vocab_size
        if labels is None:
            denoiser = NativeAdapter(self.transformer, vocab_size)
        else:
            denoiser = ClassConditionalAdapter(self.transformer, labels, guidance_scale, vocab_size)
        sample = template
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        with self.progress_bar(total=len(self.scheduler.timesteps)) as progress:
            for index, t in enumerate(self.scheduler.timesteps):
                model_output = denoiser(sample, t).view(batch_size, *grid, -1)
                # the step sees the token grid (the 2-D unmasking order reads it)
                sample = self.scheduler.step(model_output, t, sample.view(batch_size, *grid), generator=generator)
                sample = torch.where(generate, sample.prev_sample.flatten(1), template)  # given tokens never change
                if callback_on_step_end is not None:
                    outputs = callback_on_step_end(self, index, t, {name: sample for name in tensor_inputs})
                    sample = torch.where(generate, outputs.pop("latents", sample), template)
                progress.update()

        tokens = sample.view(batch_size, *grid)
        if output_type == "latent":
            images = tokens
        else:
            images = self.image_processor.postprocess(self.decode_tokens(tokens), output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)
