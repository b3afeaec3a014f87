"""Context counting (thesis chapter 4): exact per-parameter context counts of any
PyTorch model and the model-level quantities derived from them.

    from reuseprior.counting import count_contexts, analyze, Report, WeightUse
"""

from reuseprior.counting.capture import CaptureError, DataDependentShapeError, capture
from reuseprior.counting.quantities import Report, WeightUse, analyze, count_contexts, quantities_from_log2_counts
from reuseprior.counting.rules import UnsupportedOpError, register
from reuseprior.counting.sweep import DataDependentCountWarning

__all__ = [
    "count_contexts",
    "analyze",
    "Report",
    "WeightUse",
    "quantities_from_log2_counts",
    "UnsupportedOpError",
    "CaptureError",
    "DataDependentShapeError",
    "DataDependentCountWarning",
    "capture",
    "register",
]
