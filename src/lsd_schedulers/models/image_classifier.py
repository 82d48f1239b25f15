"""A small convolutional classifier whose features define the image benchmark's Frechet distance."""

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions with GELU, then 2x2 max pooling."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.GELU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.GELU(),
        nn.MaxPool2d(2),
    )


class ImageClassifier(ModelMixin, ConfigMixin):
    """Images in [-1, 1] -> class logits, with `features()` giving the penultimate activations.

    Args:
        num_classes (`int`, defaults to 10): classes.
        in_channels (`int`, defaults to 1): image channels.
        sample_size (`int`, defaults to 28): image side (a multiple of 4).
        channels (`tuple[int, int]`, defaults to `(32, 64)`): widths of the two convolution blocks.
        feature_size (`int`, defaults to 128): width of the feature layer.
        dropout (`float`, defaults to 0.2): dropout before the last layer, in training.
    """

    @register_to_config
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        sample_size: int = 28,
        channels: tuple[int, int] = (32, 64),
        feature_size: int = 128,
        dropout: float = 0.2,
    ):
        super().__init__()
        if sample_size % 4:
            raise ValueError(f"sample_size must be a multiple of 4, got {sample_size}.")
        self.convolutions = nn.Sequential(conv_block(in_channels, channels[0]), conv_block(channels[0], channels[1]))
        flat = channels[1] * (sample_size // 4) ** 2
        self.feature_layer = nn.Sequential(nn.Flatten(), nn.Linear(flat, feature_size), nn.GELU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_size, num_classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The `(batch, feature_size)` activations before the last layer.

        Args:
            images (`torch.Tensor` of shape `(batch, in_channels, sample_size, sample_size)`): values in [-1, 1].
        """
        expected = (self.config.in_channels, self.config.sample_size, self.config.sample_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"Expected images of shape (batch, {', '.join(map(str, expected))}), got {tuple(images.shape)}."
            )
        return self.feature_layer(self.convolutions(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits of shape `(batch, num_classes)`."""
        return self.head(self.features(images))
