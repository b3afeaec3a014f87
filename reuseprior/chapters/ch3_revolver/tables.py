"""Chapter 3's names that its package and its study both read: the search modes as Table 3.2 labels
them (:data:`MODE_LABELS`) and Table C.1, the registry's top-scoring shared modules
(:func:`table_c_1`)."""

from __future__ import annotations

import pandas as pd

from reuseprior.revolver.registry import ModuleRegistry

__all__ = ["MODE_LABELS", "table_c_1"]

#: search modes as Table 3.2 labels them
MODE_LABELS = {
    "random": "Random",
    "evolve": "Evolve",
    "random_warmup": "RandWarmup",
    "random_warmup_evolve": "RandWarmEvolve",
}


def table_c_1(
    registry: ModuleRegistry, top: int = 15, kinds: tuple[str, ...] = ("conv2d",), min_updates: int = 1
) -> pd.DataFrame:
    """Table C.1: the top-scoring (lower is better) shared modules of the
    given kinds with their registry scores."""
    rows = []
    for name, score in registry.scores.items():
        if name not in registry or registry.score_counts.get(name, 0) < min_updates:
            continue
        rec = registry.record(name)
        if rec["kind"] not in kinds or rec["uid"] is not None:
            continue
        a = rec["args"]
        k = a.get("kernel_size", "")
        rows.append(
            {
                "Input Channels": a.get("in_channels"),
                "Output Channels": a.get("out_channels"),
                "Kernel Size": f"{k}x{k}",
                "Stride": a.get("stride"),
                "Groups": a.get("groups", 1),
                "Score": score,
                "Updates": registry.score_counts.get(name, 0),
                "name": name,
            }
        )
    df = pd.DataFrame(
        rows,
        columns=["Input Channels", "Output Channels", "Kernel Size", "Stride", "Groups", "Score", "Updates", "name"],
    )
    return df.sort_values(["Score", "name"]).head(top).reset_index(drop=True)
