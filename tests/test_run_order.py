"""A chapter-4 run draws only from its own seeded generators: its row does not depend on what its
process ran before (the order of a study's runs on a worker, or a resumed study in a fresh process)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch

from reuseprior.chapters.ch4_sharing_training import real_study as real
from reuseprior.chapters.ch4_sharing_training import runs as ch4_runs
from reuseprior.chapters.ch4_sharing_training.architecture import backbone_macs, nominal_macs
from reuseprior.core.runtime import set_seed
from reuseprior.core.study_runner import run_study
from reuseprior.datasets import DEFAULT_DATA_DIR


def test_counting_a_models_macs_leaves_the_global_generator_as_it_found_it():
    backbone_macs.cache_clear()  # a fresh process: the count builds its model
    set_seed(0)
    expected = torch.rand(3)
    set_seed(0)
    nominal_macs("b0", 10, width_mult=0.25, depth_mult=0.25)
    assert torch.equal(torch.rand(3), expected)


#: what a row measures of its machine and moment, not of its run
_MEASURED = ("train_time_s", "peak_memory_mb", "finished_utc", "eval_time_s", "throughput")


@pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "FashionMNIST" / "raw").is_dir(),
    reason="Fashion-MNIST not fetched: run `make data` (python -m reuseprior data fetch fashion-mnist)",
)
def test_a_plan_run_in_two_orders_stores_the_same_rows(tmp_path):
    design = replace(
        real.CPU_STUDY.design,
        name="order",
        models=("V2-B0-shared", "V2-B0-original"),
        seeds=(0,),
        settings=replace(real.CPU_STUDY.design.settings, depth_mult=0.25, epochs=1, train_limit=96, batch_size=32),
    )
    rows = []
    for order in (design.models, design.models[::-1]):
        backbone_macs.cache_clear()  # each order as a fresh worker process would run it
        study = ch4_runs.training_study(design, tmp_path / f"{order[0]}.csv")
        only = [run for model in order for run in study.runs if run["model"] == model]
        run_study(study, only=only, options={"work_dir": tmp_path / order[0]}, progress=False)
        stored = study.rows()
        rows.append(stored.drop(columns=[c for c in stored.columns if c in _MEASURED or c.endswith("_s")]))
    pd.testing.assert_frame_equal(rows[0], rows[1])
