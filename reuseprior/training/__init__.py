"""Training (library layer): the generic supervised trainer with checkpoint/resume
(:mod:`.loop`, the recipe of thesis section 4.5.4) and the image augmentations of
the thesis's recipes (:mod:`.augment`). The package re-exports the trainer's public
names, so ``from reuseprior.training import fit`` and the like keep working."""

from reuseprior.training.loop import *  # noqa: F403  (the trainer's public names, listed once: loop.__all__)
from reuseprior.training.loop import __all__ as __all__
