"""A small bidirectional transformer denoiser for masked (or uniform) discrete diffusion, trainable on a CPU."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn


@dataclass
class MaskedDiffusionOutput(BaseOutput):
    """Output of a denoiser.

    Args:
        logits (`torch.Tensor` of shape `(batch_size, seq_len, vocab_size)`): logits of p(x_0 | x_t).
    """

    logits: torch.Tensor


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    # [cos(t w_i), sin(t w_i)], w_i = max_period^(-i / (dim / 2)), t scaled to [0, 1000]
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=timesteps.device) / half)
    angles = 1000 * timesteps.float()[:, None] * frequencies[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def rotary_angles(length: int, head_dim: int, device: torch.device, base: float = 10_000.0) -> torch.Tensor:
    # theta_{p, i} = p base^(-2i / d): rotary position embedding angles (RoFormer)
    frequencies = base ** (-torch.arange(0, head_dim, 2, device=device).float() / head_dim)
    return torch.arange(length, device=device).float()[:, None] * frequencies[None]


def apply_rotary(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    # rotate each (even, odd) pair of features by its angle: relative positions enter q . k
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


class TransformerBlock(nn.Module):
    """Pre-norm bidirectional self-attention with rotary positions and an MLP, with optional time shift/scale."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.attention_norm = nn.LayerNorm(hidden_size, elementwise_affine=False)
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.attention_out = nn.Linear(hidden_size, hidden_size)
        self.mlp_norm = nn.LayerNorm(hidden_size, elementwise_affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size, mlp_ratio * hidden_size), nn.GELU(), nn.Linear(mlp_ratio * hidden_size, hidden_size)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, hidden: torch.Tensor, angles: torch.Tensor, modulation: torch.Tensor | None = None
    ) -> torch.Tensor:
        shift_a, scale_a, shift_m, scale_m = (
            modulation.unsqueeze(1).chunk(4, dim=-1) if modulation is not None else (0.0, 0.0, 0.0, 0.0)
        )
        batch, length, width = hidden.shape
        normed = self.attention_norm(hidden) * (1 + scale_a) + shift_a
        q, k, v = self.qkv(normed).view(batch, length, 3, self.num_heads, width // self.num_heads).unbind(2)
        q, k = apply_rotary(q, angles[:, None]), apply_rotary(k, angles[:, None])
        attended = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        hidden = hidden + self.dropout(self.attention_out(attended.transpose(1, 2).reshape(batch, length, width)))
        normed = self.mlp_norm(hidden) * (1 + scale_m) + shift_m
        return hidden + self.dropout(self.mlp(normed))


class MaskedDiffusionTransformer(ModelMixin, ConfigMixin):
    """Bidirectional transformer that predicts logits of p(x_0 | x_t) at every position.

    Args:
        vocab_size (`int`): token ids it reads and scores, the mask id included.
        mask_token_id (`int`, *optional*): the MASK id (its logit is returned as -inf).
        max_seq_len (`int`, defaults to 256): longest sequence (positions enter through rotary embeddings).
        hidden_size (`int`, defaults to 256): width.
        num_layers (`int`, defaults to 6): transformer blocks.
        num_heads (`int`, defaults to 4): attention heads.
        mlp_ratio (`int`, defaults to 4): MLP width over hidden width.
        dropout (`float`, defaults to 0.0): dropout in training.
        time_conditioning (`bool`, defaults to `False`): condition on t (not needed for absorbing noise, RADD).
        num_classes (`int`, *optional*): class-conditional with this many classes; label `num_classes` is the null
            class (no condition), for classifier-free guidance.
    """

    @register_to_config
    def __init__(
        self,
        vocab_size: int,
        mask_token_id: int | None = None,
        max_seq_len: int = 256,
        hidden_size: int = 256,
        num_layers: int = 6,
        num_heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
        time_conditioning: bool = False,
        num_classes: int | None = None,
    ):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads}).")
        if mask_token_id is not None and not 0 <= mask_token_id < vocab_size:
            raise ValueError(f"mask_token_id {mask_token_id} is outside the vocabulary [0, {vocab_size}).")
        self.token_embedding = nn.Embedding(vocab_size, hidden_size)
        # the condition (time and/or class) shifts and scales each block's normalised inputs (adaLN)
        self.class_embedding = nn.Embedding(num_classes + 1, hidden_size) if num_classes else None
        self.conditioning_mlp = (
            nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, 4 * hidden_size))
            if time_conditioning or num_classes
            else None
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(hidden_size, num_heads, mlp_ratio, dropout) for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(
        self,
        input_ids: torch.LongTensor,
        timesteps: torch.Tensor | None = None,
        class_labels: torch.LongTensor | None = None,
        return_dict: bool = True,
    ) -> MaskedDiffusionOutput | tuple:
        """Logits of p(x_0 | x_t).

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): the noisy tokens x_t.
            timesteps (`torch.Tensor`, *optional*): t in [0, 1], a scalar or one per row (time-conditioned models).
            class_labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): classes of a class-conditional
                model; `num_classes` (the null class) or None for unconditional logits.
            return_dict (`bool`, defaults to `True`): return a `MaskedDiffusionOutput` instead of a tuple.
        """
        batch, length = input_ids.shape
        if length > self.config.max_seq_len:
            raise ValueError(f"Sequence length {length} exceeds max_seq_len={self.config.max_seq_len}.")
        hidden = self.token_embedding(input_ids)
        angles = rotary_angles(length, self.config.hidden_size // self.config.num_heads, input_ids.device)
        modulation = None
        if self.conditioning_mlp is not None:
            condition = torch.zeros(batch, self.config.hidden_size, device=input_ids.device)
            if self.config.time_conditioning:
                if timesteps is None:
                    raise ValueError("This model is time-conditioned: pass timesteps.")
                timesteps = torch.as_tensor(timesteps, device=input_ids.device).float().flatten().expand(batch)
                condition = condition + timestep_embedding(timesteps, self.config.hidden_size)
            if self.class_embedding is not None:
                condition = condition + self.class_embedding(self._class_ids(class_labels, batch, input_ids.device))
            modulation = self.conditioning_mlp(condition.to(hidden.dtype))
        for block in self.blocks:
            hidden = block(hidden, angles, modulation)
        logits = self.head(self.final_norm(hidden))
        if self.config.mask_token_id is not None:
            logits[..., self.config.mask_token_id] = -torch.inf
        if not return_dict:
            return (logits,)
        return MaskedDiffusionOutput(logits=logits)

    def _class_ids(self, class_labels: torch.LongTensor | None, batch: int, device: torch.device) -> torch.LongTensor:
        """Validated class ids, one per row; None means the null class."""
        null = self.config.num_classes
        if class_labels is None:
            return torch.full((batch,), null, dtype=torch.long, device=device)
        class_labels = torch.as_tensor(class_labels, device=device).long().flatten()
        if class_labels.numel() not in (1, batch):
            raise ValueError(f"Got {class_labels.numel()} class labels for a batch of {batch}.")
        class_labels = class_labels.expand(batch)
        if ((class_labels < 0) | (class_labels > null)).any():
            raise ValueError(f"class_labels must lie in [0, {null}] ({null} = unconditional), got {class_labels}.")
        return class_labels
