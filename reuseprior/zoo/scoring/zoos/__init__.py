"""The declared zoos, one module each: a module registers its :class:`~reuseprior.zoo.scoring.registry.Zoo`
(``register_zoo(Zoo(...))``) beside the functions only it uses (its scoring order, its input size).

Policy: nothing lists these modules; :data:`reuseprior.zoo.scoring.registry.ZOOS` imports every module
of this package before its first listing or lookup, so a new zoo is a new module here (plus its data
and tests), with no edit to a command, a parser or a list.
"""
