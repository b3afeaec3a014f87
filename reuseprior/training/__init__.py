"""Training (library layer): the generic supervised trainer with checkpoint/resume
(:mod:`.loop`, the recipe of thesis section 4.5.4), the image augmentations of
the thesis's recipes (:mod:`.augment`) and the criteria a trained run must meet to
count (:mod:`.convergence`)."""
