"""Training-free baselines that thesis chapter 6 compares the reusability prior with:

- :mod:`.registry`: what each score is (label, unit, requirements, source paper), as data;
- :mod:`.complexity`: #parameters and FLOPs, the naive baselines;
- :mod:`.proxies`: the scores, ``score(model, batch) -> float`` (``PROXIES``), and the shared pass of the
  data-dependent ones;
- :mod:`.nnmass`: NN-Mass and NN-Density (Bhardwaj et al.) and their CNN family.

Imports point one way: ``proxies`` uses ``nnmass``, ``complexity`` and ``registry``; ``nnmass`` uses
``complexity``; ``registry`` imports nothing.
"""
