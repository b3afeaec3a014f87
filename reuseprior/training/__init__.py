"""Training (library layer): the generic supervised trainer with checkpoint/resume
(:mod:`.loop`, the recipe of thesis section 4.5.4), the image augmentations of
the thesis's recipes (:mod:`.augment`), the criteria a trained run must meet to
count (:mod:`.convergence`) and the ATen calls of one training step, what a GPU
launches for it (:mod:`.step_calls`)."""
