"""NG of the corrected shared EfficientNetV2 graphs (V2-B0-shared, V2-S-shared), derived
by hand from a reference, not read off the code's output.

The thesis prints no corrected shared rows. The context-counting spec gives NG of the
as-published shared rows (``data/thesis/graph_tables_more_digits.csv``: 2,972,720 and
4,352,968), counted with the original library's scope key, whose naming collision
(:func:`reuseprior.models.sharing.as_published_share_key`) merged two kinds of weights
that the corrected key keeps apart:

* a FusedMBConv k x k expand convolution with the same channels at stride 1 and at
  stride 2: the whole 3 x 3 kernel, ``in * out * 9`` parameters;
* a FusedMBConv 3 x 3 expand with a 1 x 1 convolution of the same channels: its corner
  tap, ``in * out`` parameters.

Read off the official block tables (Tan & Le 2021; ``effnetv2_configs.py``, ``v2_base_block``
and ``v2_s_block``; an expand-ratio-4 fused block expands ``in -> 4 in``, the first block of a
stage at the stage's stride, the others at stride 1 with ``in`` the stage's output):

* B0: stage 2 (16 -> 32, 2 blocks) expands 32 -> 128 at stride 1 in its second block, stage
  3 (32 -> 48, 2 blocks) expands 32 -> 128 at stride 2 in its first block: 32 * 128 * 9.
  Stage 3's second block expands 48 -> 192 (3 x 3), as does stage 4's first MBConv (1 x 1,
  48 -> 4 * 48): 48 * 192.
* S: stage 2 (24 -> 48, 4 blocks) expands 48 -> 192 at stride 1, stage 3 (48 -> 64, 4 blocks)
  at stride 2 in its first block: 48 * 192 * 9. Stage 3's later blocks expand 64 -> 256
  (3 x 3), as does stage 4's first MBConv (1 x 1, 64 -> 4 * 64): 64 * 256.

No other convolutions share channels with a fused expand (the fused projections are
1 x 1 ``4 in -> out``, the squeeze-excitation 1 x 1 convolutions carry biases).
"""

from __future__ import annotations

from reuseprior.reporting.reference import load_thesis_table

#: parameters the as-published key merges and the corrected key keeps apart (see the module docstring)
AS_PUBLISHED_COLLISION = {
    "V2-B0-shared": 32 * 128 * 9 + 48 * 192,  # 46,080
    "V2-S-shared": 48 * 192 * 9 + 64 * 256,  # 99,328
}


def as_published(model: str, column: str) -> float:
    """The spec's value of ``column`` for the as-published row ``model``."""
    return load_thesis_table("graph_tables_more_digits").set_index("Model").loc[model, column]


def printed(model: str, column: str) -> str:
    """The spec's value of ``column`` for ``model`` as transcribed (for its printed precision)."""
    return load_thesis_table("graph_tables_more_digits").attrs["printed"].set_index("Model").loc[model, column]


def corrected_ng(model: str) -> int:
    """NG of the corrected shared row ``model``: the spec's as-published NG plus the collision."""
    return int(as_published(model, "NG")) + AS_PUBLISHED_COLLISION[model]
