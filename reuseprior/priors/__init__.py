"""Priors (library layer, thesis chapter 5): the energy-based reusability
prior, the path-discounted and hypothetical priors (:mod:`.energy`), and the
sympy derivations of their closed forms (:mod:`.derivations`)."""
