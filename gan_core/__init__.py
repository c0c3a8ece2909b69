"""The course's MNIST DCGAN as a library: models, data, training, checkpoints, latent space and introspection."""

from gan_core.checkpoint import load, load_discriminator, read_config
from gan_core.config import ModelConfig, TrainConfig
from gan_core.errors import CheckpointError, ConfigError, DataNotFoundError, RunFolderError, TrainingDiverged
from gan_core.models import Discriminator, Generator, weights_init

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataNotFoundError",
    "Discriminator",
    "Generator",
    "ModelConfig",
    "RunFolderError",
    "TrainConfig",
    "TrainingDiverged",
    "load",
    "load_discriminator",
    "read_config",
    "weights_init",
]
