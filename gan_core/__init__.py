"""The course's MNIST DCGAN as a library: models, data, training, checkpoints, latent space and introspection."""

from gan_core.checkpoint import CheckpointError, load, load_discriminator, read_config
from gan_core.config import ConfigError, ModelConfig, TrainConfig
from gan_core.models import Discriminator, Generator, weights_init

__all__ = [
    "CheckpointError",
    "ConfigError",
    "Discriminator",
    "Generator",
    "ModelConfig",
    "TrainConfig",
    "load",
    "load_discriminator",
    "read_config",
    "weights_init",
]
