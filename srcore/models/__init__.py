"""Networks: the generator (SRCNN body + learned x4 upsampling), the discriminator, feature nets."""

from srcore.models.discriminator import Discriminator, DiscriminatorConfig
from srcore.models.generator import Generator, GeneratorConfig

__all__ = ["Generator", "GeneratorConfig", "Discriminator", "DiscriminatorConfig"]
