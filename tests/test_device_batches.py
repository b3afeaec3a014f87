"""reuseprior.training.loop.batches: a tensor dataset's batches indexed on the device are the loader's,
element for element; every recipe's optimizer offers a multi-tensor path on CUDA; and the package imports
without IPython (it is not a dependency)."""

from __future__ import annotations

import subprocess
import sys

import torch
from torch.utils.data import Subset, TensorDataset

from reuseprior.training.augment import GreyAsRGB
from reuseprior.training.loop import (
    EpochSampler,
    TrainConfig,
    checks_each_step,
    data_loader,
    make_optimizer,
    settling_warnings,
    updates_one_tensor_at_a_time,
)
from reuseprior.training.loop.batches import DeviceTensors, _tensors_of, device_tensors
from reuseprior.training.loop.config import ema_share_of_first_half


def _held(dataset) -> DeviceTensors:
    """What :func:`device_tensors` holds on a GPU, held here on the CPU."""
    images, labels, channels = _tensors_of(dataset)
    return DeviceTensors(images, labels, channels)


def test_device_batches_are_the_loaders_batches_element_for_element():
    g = torch.Generator().manual_seed(0)
    grey = GreyAsRGB(torch.randn(50, 1, 8, 8, generator=g), torch.randint(0, 10, (50,), generator=g))
    for dataset in (grey, Subset(grey, range(7, 43)), TensorDataset(torch.randn(30, 3, 4, 4), torch.arange(30))):
        config = TrainConfig(batch_size=8, epochs=1)
        sampler = EpochSampler(len(dataset), seed=3, epoch=1, start=8)
        loader = data_loader(dataset, 8, sampler, config, torch.device("cpu"), drop_last=True, generator_seed=0)
        ours = _held(dataset).batches(sampler.order()[sampler.start :], 8, drop_last=True)
        pairs = list(zip(loader, ours, strict=True))
        assert pairs
        for (a_x, a_y), (b_x, b_y) in pairs:
            assert torch.equal(a_x, b_x) and torch.equal(a_y, b_y)


def test_only_cuda_and_tensor_datasets_take_the_device_path():
    grey = GreyAsRGB(torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))
    assert device_tensors(grey, torch.device("cpu")) is None
    assert _tensors_of(torch.utils.data.ConcatDataset([grey])) is None
    assert checks_each_step(torch.device("cpu")) and not checks_each_step(torch.device("cuda"))


class _PerTensorOptimizer(torch.optim.Optimizer):
    """An optimizer class without a ``foreach`` option, as timm's RMSpropTF before 1.0.31."""

    def __init__(self, params):
        super().__init__(params, {"lr": 0.1})


def test_every_recipe_optimizer_offers_a_multi_tensor_path_on_cuda():
    """Every recipe's optimizer has the ``foreach`` option that CUDA's default resolves to one
    multi-tensor call per group (for RMSprop-TF: the installed timm is 1.0.31 or later); an optimizer
    class without it is named (``fit`` prints a note for it). Which path a step takes on CUDA is not
    checked here (no GPU)."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    for name in ("rmsprop_tf", "rmsprop", "adamw", "sgd"):
        optimizer = make_optimizer(model, TrainConfig(optimizer=name, lr_per_use=True))
        assert not updates_one_tensor_at_a_time(optimizer, cuda), name
    per_tensor = _PerTensorOptimizer(model.parameters())
    assert updates_one_tensor_at_a_time(per_tensor, cuda)
    assert not updates_one_tensor_at_a_time(per_tensor, cpu)


def test_settling_warnings_name_unsettled_batch_norm_statistics_not_the_warmed_up_average():
    short = settling_warnings(TrainConfig(ema_decay=0.9999, bn_momentum_tf=0.99), 40)
    assert len(short) == 1 and "67%" in short[0] and "batch-norm" in short[0]
    assert settling_warnings(TrainConfig(ema_decay=0.9999, bn_momentum_tf=0.9), 3000) == []
    # TensorFlow's warm-up keeps the average near the last steps: about 0.6 % from the first half after 40
    assert 0.005 < ema_share_of_first_half(0.9999, 40) < 0.007
    # a decay below every warm-up value is constant: the first half's share is decay ** (steps / 2)
    assert abs(ema_share_of_first_half(0.1, 10) - 0.1**5) < 1e-15


def test_the_package_imports_without_ipython():
    """Every module of the package imports in a process where IPython cannot be imported."""
    code = (
        "import sys, importlib, pkgutil\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'IPython':\n"
        "            raise ImportError('IPython is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import reuseprior\n"
        "names = [m.name for m in pkgutil.walk_packages(reuseprior.__path__, 'reuseprior.')\n"
        "         if not m.name.endswith('__main__')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 100
