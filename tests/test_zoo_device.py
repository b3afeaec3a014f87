"""The data-dependent proxies on another device: the fill's and rescoring's ``device``, its record in the
``.meta.json``, the command's refusals, and (where a GPU is present) agreement with the CPU's values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from reuseprior.baselines.proxies import ProxyBatch, data_dependent_scores, make_batch
from reuseprior.commands import main
from reuseprior.core.cpu import device_description
from reuseprior.zoo.distributed import connect
from reuseprior.zoo.scoring import fill_proxies, import_scores, score_zoo
from reuseprior.zoo.store import meta_path

HAS_CUDA = torch.cuda.is_available()


def _small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    )


def test_a_batch_moved_to_a_device_keeps_its_values_and_description():
    batch = make_batch(4, 8, 5, seed=3)
    moved = batch.to("cpu")
    assert isinstance(moved, ProxyBatch) and moved.description == batch.description
    assert torch.equal(moved.inputs, batch.inputs) and torch.equal(moved.targets, batch.targets)


def test_naming_the_batch_s_own_device_computes_the_same_values():
    model, batch = _small_net(), make_batch(6, 8, 5, seed=1)
    torch.manual_seed(0)
    plain = data_dependent_scores(model, batch)
    torch.manual_seed(0)
    named = data_dependent_scores(model, batch, device="cpu")
    assert plain == named


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_on_a_gpu_every_proxy_agrees_with_the_cpu_to_float32_rounding():
    model, batch = _small_net(), make_batch(6, 8, 5, seed=1)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    cpu = data_dependent_scores(model, batch)
    torch.manual_seed(0)
    gpu = data_dependent_scores(model, batch, device="cuda")
    assert next(model.parameters()).device.type == "cpu"  # the caller's model is not moved
    for name, value in cpu.items():
        assert gpu[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_a_fill_records_its_device_and_the_rows_it_filled(tmp_path):
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        path = score_zoo("nb201", limit=1, data_dir=tmp_path, progress=False, full_every=10**6, client=client)
        df = pd.read_csv(path)
        for name in ("snip", "grasp", "fisher", "grad_norm", "jacob_cov", "naswot"):
            df.loc[0, name] = np.nan
        df.to_csv(path, index=False, float_format="%.17g")
        import_scores("nb201", data_dir=tmp_path)
        assert fill_proxies("nb201", data_dir=tmp_path, progress=False, client=client, device="cpu") == 1
    entry = json.loads(meta_path(path).read_text())["filled"][-1]
    assert entry["device"] == device_description("cpu")
    assert entry["archs"] == [df.loc[0, "arch"]]


def test_the_command_takes_a_device_only_for_the_proxies_of_a_fill_or_rescoring(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["score-zoos", "nb201", "--device", "cuda"])
    assert exit_info.value.code == 2
    assert "add --fill-proxies" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score-zoos", "nb201", "--fill-proxies", "--device", "gpu0"])
    assert "must be" in capsys.readouterr().err


@pytest.mark.skipif(HAS_CUDA, reason="checks the refusal where there is no GPU")
def test_a_fill_on_cuda_without_a_gpu_is_refused_in_one_line(tmp_path, capsys):
    code = main(["score-zoos", "nb201", "--fill-proxies", "--device", "cuda", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and "no CUDA GPU" in err and "Traceback" not in err
