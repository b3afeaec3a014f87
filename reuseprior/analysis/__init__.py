"""Tools built on the counting engine and the baselines for a user's own models:

- :mod:`.compare`: several models analysed and ranked by the prior beside #params, FLOPs and the proxies
  (also ``reuseprior.compare``).
"""

from reuseprior.analysis.compare import (
    compare,
)

__all__ = [
    "compare",
]
