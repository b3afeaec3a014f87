"""Tests of the generic trainer (reuseprior.training.loop), the input pipelines
(reuseprior.training.augment) and the Table 4.2 experiment (reuseprior.chapters.ch4_sharing_training)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from reuseprior.chapters import ch4_sharing_training as st
from reuseprior.chapters.ch4_sharing_training import runs as st_runs
from reuseprior.core import paths
from reuseprior.core.cpu import device_description
from reuseprior.core.parameters import count_parameters
from reuseprior.datasets import DatasetNotFoundError
from reuseprior.training import loop
from reuseprior.training.augment import CentralCropResize, GreyAsRGB, build_transforms, grey_to_rgb, official_scale
from reuseprior.training.loop import (
    CHECKPOINT_FORMAT,
    CheckpointMismatchError,
    ModelEma,
    TrainConfig,
    TrainingInterrupted,
    UnreadableCheckpointError,
    WarmupExponentialSchedule,
    count_flops,
    fit,
    load_checkpoint,
    save_checkpoint,
    set_bn_momentum,
)
from reuseprior.training.loop.fitting import _param_groups

# ----------------------------------------------------------------- fixtures


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n: int = 96, seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """A learnable toy task: the class is the quadrant of a bright pixel."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.randn(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    for i, c in enumerate(y.tolist()):
        r, col = divmod(c, 2)
        x[i, 0, 4 * r + 1 : 4 * r + 3, 4 * col + 1 : 4 * col + 3] += 2.0
    split = int(0.75 * n)
    return TensorDataset(x[:split], y[:split]), TensorDataset(x[split:], y[split:])


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Dropout(0.2),  # consumes the global RNG: resuming must restore it
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, 4),
    )


CFG = TrainConfig(epochs=3, batch_size=16, lr_base=0.05, lr_warmup_epochs=0.5, seed=3)


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _assert_same_history(a: list[dict], b: list[dict]) -> None:
    """Equal to the last bit (NaN == NaN), timing columns aside."""
    drop = ["epoch_time_s", "images_per_s"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(a).drop(columns=drop), pd.DataFrame(b).drop(columns=drop), check_exact=True
    )


# ----------------------------------------------------------------- training


def test_training_reduces_loss():
    train, val = _data()
    result = fit(_model(), train, val, CFG, progress=False)
    assert result.status == "completed" and result.epochs_completed == 3
    assert result.val_loss < result.initial_val_loss - 0.05
    assert result.final_train_loss < result.first_train_loss
    assert [h["epoch"] for h in result.history] == [0, 1, 2, 3]
    assert result.train_images_per_s > 0 and result.params == count_parameters(_model())
    assert result.peak_memory_kind == "cpu_process_peak_rss" and result.peak_memory_bytes > 0


def test_fit_set_is_evaluated_in_eval_mode_once_the_run_completes():
    train, val = _data()
    model = _model()
    result = fit(model, train, val, CFG, fit_set=train, progress=False)
    assert result.train_top1_eval == pytest.approx(loop.evaluate(model, train)[1])
    assert math.isnan(fit(_model(), train, val, CFG, progress=False).train_top1_eval)


def test_killed_run_resumes_bit_identical(tmp_path):
    train, val = _data()
    reference = _model()
    full = fit(reference, train, val, CFG, checkpoint_path=tmp_path / "a.pt", progress=False)

    def kill(epoch: int, step: int) -> None:  # a crash mid epoch 2: only the epoch-1 checkpoint survives
        if epoch == 1 and step == 2:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError, match="simulated kill"):
        fit(_model(), train, val, CFG, checkpoint_path=tmp_path / "b.pt", progress=False, on_step=kill)
    assert load_checkpoint(tmp_path / "b.pt")["epoch"] == 1
    torch.manual_seed(12345)  # a new process would have another global RNG state
    resumed_model = _model()
    resumed = fit(resumed_model, train, val, CFG, checkpoint_path=tmp_path / "b.pt", progress=False)
    assert resumed.resumed_from_epoch == 1
    assert _same_state(reference, resumed_model)
    _assert_same_history(resumed.history, full.history)


def test_keyboard_interrupt_checkpoints_partial_epoch_and_resumes_exactly(tmp_path):
    train, val = _data()
    reference = _model()
    fit(reference, train, val, CFG, progress=False)

    def interrupt(epoch: int, step: int) -> None:
        if epoch == 1 and step == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as info:
        fit(_model(), train, val, CFG, checkpoint_path=tmp_path / "c.pt", progress=False, on_step=interrupt)
    partial = info.value.result
    assert partial.status == "interrupted" and partial.epochs_completed == 1
    state = load_checkpoint(tmp_path / "c.pt")
    assert (state["epoch"], state["step_in_epoch"]) == (1, 3)
    model = _model()
    fit(model, train, val, CFG, checkpoint_path=tmp_path / "c.pt", progress=False)
    assert _same_state(reference, model)


def test_sigint_stops_at_batch_boundary(tmp_path):
    train, val = _data()

    def sigint(epoch: int, step: int) -> None:
        if epoch == 0 and step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        fit(_model(), train, val, CFG, checkpoint_path=tmp_path / "d.pt", progress=False, on_step=sigint)
    state = load_checkpoint(tmp_path / "d.pt")
    assert state["epoch"] == 0 and state["step_in_epoch"] in (2, 3)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_resume_with_other_settings_is_refused(tmp_path):
    train, val = _data()
    fit(_model(), train, val, replace(CFG, epochs=1), checkpoint_path=tmp_path / "e.pt", progress=False)
    with pytest.raises(CheckpointMismatchError, match="lr_base"):
        fit(_model(), train, val, replace(CFG, lr_base=0.1), checkpoint_path=tmp_path / "e.pt", progress=False)
    wider = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 4))
    with pytest.raises(CheckpointMismatchError, match="holds another model"):
        fit(wider, train, val, replace(CFG, epochs=1), checkpoint_path=tmp_path / "e.pt", progress=False)
    # more epochs is allowed: training is extended
    more = fit(_model(), train, val, replace(CFG, epochs=2), checkpoint_path=tmp_path / "e.pt", progress=False)
    assert more.resumed_from_epoch == 1 and more.epochs_completed == 2


def test_checkpoint_write_is_atomic(tmp_path):
    path = save_checkpoint({"format": CHECKPOINT_FORMAT, "x": torch.arange(3)}, tmp_path / "f.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pt"]
    assert torch.equal(load_checkpoint(path)["x"], torch.arange(3))
    torch.save({"something": "else"}, tmp_path / "g.pt")
    with pytest.raises(CheckpointMismatchError, match="not a reuseprior"):
        load_checkpoint(tmp_path / "g.pt")


# -------------------------------------------------------------- recipe parts


def test_schedule_warmup_then_staircase_exponential():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    cfg = TrainConfig(batch_size=512, lr_base=0.016, lr_warmup_epochs=5)
    sched = WarmupExponentialSchedule(opt, cfg, steps_per_epoch=10)
    peak = 0.016 * 512 / 256
    assert cfg.peak_lr == pytest.approx(peak)
    assert sched.lr_at(0) == 0.0 and sched.lr_at(25) == pytest.approx(peak / 2)
    assert sched.lr_at(50) == pytest.approx(peak * 0.97 ** math.floor(50 / 24))
    assert sched.lr_at(71) == pytest.approx(peak * 0.97**2) and sched.lr_at(72) == pytest.approx(peak * 0.97**3)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(peak / 50)


def test_bn_momentum_uses_tensorflow_convention():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.BatchNorm1d(3))
    assert set_bn_momentum(model, 0.99) == 2
    assert all(m.momentum == pytest.approx(0.01) for m in model if isinstance(m, nn.modules.batchnorm._BatchNorm))


def test_weight_decay_skips_biases_and_bn():
    decay, no_decay = _param_groups(_model(), 1e-5)
    assert [tuple(p.shape) for p in decay["params"]] == [(8, 1, 3, 3), (4, 32)]
    assert decay["weight_decay"] == 1e-5 and no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3


def _tied_model() -> nn.Module:
    """A 3x3 convolution installed at three sites (one module object), BN per site, a linear head."""
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    body = [m for _ in range(3) for m in (conv, nn.BatchNorm2d(4), nn.ReLU())]
    return nn.Sequential(nn.Conv2d(1, 4, 1), *body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 4))


def test_parameter_uses_counts_the_sites_of_a_tied_weight():
    model = _tied_model()
    uses = loop.parameter_uses(model)
    assert uses[id(model[1].weight)] == 3  # the tied convolution
    assert uses[id(model[0].weight)] == 1 and uses[id(model[2].weight)] == 1 and uses[id(model[-1].weight)] == 1
    # one Parameter assigned to two modules is used twice as well
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    assert loop.parameter_uses(nn.Sequential(a, b))[id(a.weight)] == 2


def test_per_use_step_size_divides_each_rate_by_the_uses():
    model = _tied_model()
    groups = _param_groups(model, 1e-5, per_use=True)
    scale_of = {id(p): (g["lr_scale"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert scale_of[id(model[1].weight)] == (pytest.approx(1 / 3), 1e-5)
    assert scale_of[id(model[0].weight)] == (1.0, 1e-5) and scale_of[id(model[2].weight)] == (1.0, 0.0)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    cfg = replace(CFG, lr_per_use=True)
    opt = loop.make_optimizer(model, cfg)
    sched = WarmupExponentialSchedule(opt, cfg, steps_per_epoch=10)
    for _ in range(25):
        sched.step()
    rate = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert rate[id(model[1].weight)] == pytest.approx(sched.get_last_lr() / 3)
    assert rate[id(model[0].weight)] == pytest.approx(sched.get_last_lr()) and sched.get_last_lr() > 0
    # off (the official recipe): two groups, one rate, no scale
    plain = _param_groups(model, 1e-5)
    assert len(plain) == 2 and all("lr_scale" not in g for g in plain)


def test_checkpoint_from_before_a_setting_existed_resumes_at_its_default(tmp_path):
    train, val = _data()
    path = tmp_path / "old.pt"
    fit(_model(), train, val, replace(CFG, epochs=1), checkpoint_path=path, progress=False)
    state = load_checkpoint(path)
    del state["config"]["lr_per_use"]  # as written before TrainConfig had it
    save_checkpoint(state, path)
    with pytest.raises(CheckpointMismatchError, match="lr_per_use: checkpoint False vs now True"):
        fit(_model(), train, val, replace(CFG, epochs=2, lr_per_use=True), checkpoint_path=path, progress=False)
    resumed = fit(_model(), train, val, replace(CFG, epochs=2), checkpoint_path=path, progress=False)
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_completed == 2


def test_a_run_resumed_on_another_machine_names_both_with_their_epochs(tmp_path):
    train, val = _data()
    path = tmp_path / "moved.pt"
    gpu = "NVIDIA H100 (132 SMs, 79 GiB)"
    alone = fit(_model(), train, val, replace(CFG, epochs=1), checkpoint_path=path, progress=False)
    here = device_description("cpu")
    assert alone.trained_on == ((here, 1),) and alone.machine == here
    state = load_checkpoint(path)
    assert state["trained_on"] == [[here, 1]]

    state["trained_on"] = [[gpu, 1]]  # as if epoch 1 trained on a lent GPU
    save_checkpoint(state, path)
    moved = fit(_model(), train, val, replace(CFG, epochs=3), checkpoint_path=path, progress=False)
    assert moved.machine == f"{gpu} (epoch 1), then {here} (epochs 2-3)"
    assert fit(_model(), train, val, replace(CFG, epochs=3), checkpoint_path=path, progress=False).machine == (
        moved.machine  # resuming a finished run trains nothing and credits nothing
    )

    save_checkpoint(state, path)
    late = fit(_model(), train, val, replace(CFG, epochs=3), checkpoint_path=path, progress=False, deadline=0.0)
    assert late.status == "stopped" and late.machine == gpu  # stopped before an epoch: this machine is not named

    del state["trained_on"]  # written before checkpoints recorded their machines
    save_checkpoint(state, path)
    old = fit(_model(), train, val, replace(CFG, epochs=2), checkpoint_path=path, progress=False)
    assert old.machine == f"machine not recorded (epoch 1), then {here} (epoch 2)"
    damaged = {**state, "trained_on": [["one entry without its epoch"]]}
    save_checkpoint(damaged, path)
    with pytest.raises(UnreadableCheckpointError, match="entries are damaged"):
        fit(_model(), train, val, replace(CFG, epochs=2), checkpoint_path=path, progress=False)
    fresh = fit(_model(), train, val, replace(CFG, epochs=1), progress=False, deadline=0.0)
    assert fresh.trained_on == () and fresh.machine == ""


def test_flops_and_shared_parameters_counted_once():
    lin = nn.Linear(5, 7, bias=False)
    assert count_flops(lin, (5,)) == 2 * 5 * 7
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    tied = nn.Sequential(conv, nn.ReLU(), conv)
    assert count_parameters(tied) == 4 * 4 * 9
    assert count_flops(tied, (4, 6, 6)) == 2 * (2 * 4 * 4 * 9 * 36)


def test_ema_of_tied_weights_is_averaged_once():
    conv = nn.Conv2d(1, 1, 1, bias=False)
    model = nn.Sequential(conv, conv)
    with torch.no_grad():
        conv.weight.fill_(0.0)
    ema = ModelEma(model, decay=0.5)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    ema.update(model)  # decay_t = min(0.5, 2/11)
    d = 2 / 11
    assert ema.module[0].weight.item() == pytest.approx(1 - d)


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("epochs", 0, "epochs"),
        ("batch_size", -4, "batch_size"),
        ("lr_base", 0.0, "lr_base"),
        ("optimizer", "lamb", "optimizer"),
        ("lr_schedule", "step", "lr_schedule"),
        ("bn_momentum_tf", 1.5, "bn_momentum_tf"),
        ("ema_decay", 1.0, "ema_decay"),
    ],
)
def test_invalid_config_names_the_parameter(field, value, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{field: value})


def test_batch_larger_than_training_set_is_explained():
    train, val = _data(n=16)
    with pytest.raises(ValueError, match="batch_size=16 is larger than the training set"):
        fit(_model(), train, val, CFG, progress=False)


def test_augmentation_pipelines():
    img = Image.new("RGB", (32, 32), (120, 30, 200))
    for aug in ("none", "autoaug", "randaug"):
        train_tf, eval_tf = build_transforms(aug, 32)
        assert train_tf(img).shape == (3, 32, 32) and eval_tf(img).shape == (3, 32, 32)
    train_tf, eval_tf = build_transforms("randaug", 48, eval_size=56)
    assert train_tf(img).shape == (3, 48, 48) and eval_tf(img).shape == (3, 56, 56)
    with pytest.raises(ValueError, match="augmentation='mixup'"):
        build_transforms("mixup", 32)
    with pytest.raises(ValueError, match="eval_size=4"):
        build_transforms("none", 32, eval_size=4)


def _two_colour_image() -> Image.Image:
    """32x32: left half red, right half blue (no black pixel anywhere)."""
    pixels = torch.zeros(32, 32, 3, dtype=torch.uint8)
    pixels[:, :16, 0] = 200
    pixels[:, 16:, 2] = 200
    return Image.fromarray(pixels.numpy())


def test_no_augmentation_still_crops_and_flips_without_padding():
    """Official CIFAR pipeline with no policy (``data.augname`` unset): random
    crop + resize + flip; never a padded (black) pixel."""
    train_tf, _ = build_transforms("none", 32)
    image = _two_colour_image()
    torch.manual_seed(0)  # torchvision's random transforms draw from the global generator
    outputs = [train_tf(image) for _ in range(40)]
    flipped = [bool(out[2, :, :4].mean() > out[0, :, :4].mean()) for out in outputs]  # blue on the left
    assert 5 < sum(flipped) < 35
    unchanged = (torch.tensor([200, 0, 0]) - 128) / 128  # a red pixel, untouched
    moved = [not torch.allclose(out[:, :, 8], unchanged.view(3, 1).expand(3, 32)) for out in outputs]
    assert sum(moved) > 5  # the crop moves the red/blue edge (it sits at column 16 uncropped)
    black = torch.full((3,), -1.0)
    for out in outputs:
        assert not torch.isclose(out.permute(1, 2, 0), black, atol=0.02).all(dim=-1).any()


def test_official_evaluation_crop():
    """Below 320 px a central square of image_size/(image_size+32) of the
    shorter side, then the resize; at 320 px or more no crop."""
    assert CentralCropResize(224).crop_size(32, 32) == 28  # int(224 / 256 * 32)
    assert CentralCropResize(192).crop_size(375, 500) == int(192 / 224 * 375) == 321
    assert CentralCropResize(384).crop_size(32, 32) is None
    pixels = torch.full((32, 32, 3), 100, dtype=torch.uint8)
    pixels[:2, :, 1] = pixels[-2:, :, 1] = pixels[:, :2, 1] = pixels[:, -2:, 1] = 250  # a 2-pixel green frame
    image = Image.fromarray(pixels.numpy())
    _, eval_224 = build_transforms("none", 224)
    _, eval_384 = build_transforms("none", 300, eval_size=384)
    cropped, whole = eval_224(image), eval_384(image)
    assert cropped.shape == (3, 224, 224) and whole.shape == (3, 384, 384)
    grey = (100 - 128) / 128
    assert torch.allclose(cropped, torch.full_like(cropped, grey), atol=1e-6)  # (32 - 28) // 2 = 2: frame cut off
    assert whole[1, 0, 192].item() == pytest.approx((250 - 128) / 128, abs=1e-6)  # frame kept


def test_grey_images_become_three_channels_on_the_official_scale():
    images = torch.zeros(2, 1, 28, 28)
    images[1] = 1.0  # white
    mean, std = 0.2860, 0.3530
    standardised = (images - mean) / std
    rgb = GreyAsRGB(official_scale(grey_to_rgb(standardised, 32), mean, std), torch.tensor([3, 7]))
    black, label = rgb[0]
    assert black.shape == (3, 32, 32) and label.item() == 3
    assert torch.allclose(black, torch.full_like(black, -1.0), atol=1e-5)
    assert torch.allclose(rgb[1][0], torch.full((3, 32, 32), 127 / 128), atol=1e-5)
    ramp = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.allclose(grey_to_rgb(ramp, 2), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))  # 2x2 means
    with pytest.raises(ValueError, match="grey images"):
        grey_to_rgb(torch.zeros(1, 3, 8, 8), 16)


# ---------------------------------------------------- the Table 4.2 experiment


def _tiny_settings(**changes) -> dict:
    settings = dict(st.PROFILES["quick"])
    settings.update(
        models="V2-B0-original,V2-B0-shared", epochs=2, train_limit=128, batch_size=32, width_mult=0.25, depth_mult=0.25
    )
    settings.update(changes)
    return settings


def test_results_rows_schema_and_table_4_2(tmp_path):
    plan = st.make_plan(_tiny_settings(), profile="quick", seed=0)
    csv = tmp_path / "results.csv"
    df = st.run_experiments(plan, seed=0, results_csv=csv, checkpoint_dir=tmp_path / "ckpt", progress=False)
    assert list(df.columns) == list(st.RESULT_COLUMNS)
    assert list(pd.read_csv(csv).columns) == list(st.RESULT_COLUMNS)
    assert list(df["model"]) == ["V2-B0-original", "V2-B0-shared"]
    assert (df["status"] == "completed").all() and (df["epochs_completed"] == 2).all()
    assert df["params"].iloc[1] < df["params"].iloc[0]  # sharing removes parameters
    assert (df["flops"] > 0).all() and (df["macs_nominal"] > df["flops"] / 2).all()  # 224 px vs 32 px
    assert df["peak_memory_kind"].eq("cpu_process_peak_rss").all()
    assert st.loss_went_down(df).all()
    table = st.table_4_2(df)
    assert list(table.columns) == ["Model", "Dataset", "Params (M)", "Score", "Augm.", "Batch", "Epoch", "FLOPs (B)"]
    assert list(table["Model"]) == ["V2-B0-shared", "V2-B0-original"] and (table["Epoch"] == 2).all()
    history = st.history_frame(df)
    assert len(history) == 2 * 3  # epochs 0, 1, 2 of two runs


def test_interrupted_experiment_keeps_partial_row(tmp_path, monkeypatch):
    plan = st.make_plan(_tiny_settings(models="V2-B0-original"), profile="quick", seed=0)
    real_fit = st_runs.fit

    def interrupted_fit(*args, **kwargs):
        def stop(epoch, step):
            if epoch == 1 and step == 1:
                raise KeyboardInterrupt

        return real_fit(*args, **kwargs, on_step=stop)

    monkeypatch.setattr(st_runs, "fit", interrupted_fit)
    with pytest.raises(TrainingInterrupted):
        st.run_experiments(
            plan, seed=0, results_csv=tmp_path / "r.csv", checkpoint_dir=tmp_path / "ckpt", progress=False
        )
    rows = pd.read_csv(tmp_path / "r.csv")
    assert list(rows["status"]) == ["interrupted"] and rows["epochs_completed"].item() == 1
    assert load_checkpoint(rows["checkpoint"].item())["step_in_epoch"] == 1


@pytest.mark.parametrize(
    "change,match",
    [
        ({"dataset": "svhn"}, "dataset='svhn'"),
        ({"models": "V2-XL-shared"}, "V2-XL-shared"),
        ({"models": ""}, "names no model"),
        ({"epochs": 0}, "epochs"),
        ({"width_mult": 0}, "width_mult"),
        ({"amp": "yes"}, "amp"),
        ({"train_limit": -1}, "train_limit"),
    ],
)
def test_invalid_experiment_parameters(change, match):
    with pytest.raises(ValueError, match=match):
        st.make_plan(_tiny_settings(**change))


def test_full_profile_follows_section_4_5_4():
    plan = st.make_plan(st.PROFILES["full"], profile="full")
    c = plan.config
    assert (c.epochs, c.batch_size, c.lr_base, c.lr_warmup_epochs) == (300, 512, 0.016, 5.0)
    assert c.lr_schedule == "exponential" and c.bn_momentum_tf == 0.99 and plan.recipe.augmentation == "none"
    assert c.optimizer == "rmsprop_tf" and c.ema_decay == 0.9999
    assert st.make_plan({**st.PROFILES["full"], "dataset": "cifar100"}).recipe.augmentation == "autoaug"
    imagenet = st.make_plan({**st.PROFILES["full"], "dataset": "imagenet"})
    assert (imagenet.config.epochs, imagenet.config.batch_size, imagenet.config.lr_base) == (352, 400, 0.025)
    assert imagenet.recipe.augmentation == "randaug" and imagenet.config.ema_decay == 0.9999
    assert plan.departures() == [] and imagenet.departures() == []


def test_official_resolutions_per_variant_and_dataset():
    """ImageNet: train.isize/eval.isize of the variant (B0 192/224, S 300/384);
    CIFAR (cifar10Ft configs): train.isize = 1.0 x eval.isize."""
    assert st.official_sizes("imagenet", "b0") == (192, 224) and st.official_sizes("imagenet", "s") == (300, 384)
    assert st.official_sizes("cifar10", "b0") == (224, 224) and st.official_sizes("CIFAR-100", "s") == (384, 384)
    assert st.official_sizes("cifar10", "b3") == (288, 300)  # 300 rounded down to a multiple of 16
    with pytest.raises(ValueError, match="no official EfficientNetV2 resolution"):
        st.official_sizes("mnist", "b0")
    full = st.make_plan(st.PROFILES["full"], profile="full")
    assert [full.sizes(v) for v in ("b0", "s")] == [(224, 224), (384, 384)]
    assert st.NOMINAL_RESOLUTION["b0"] == 224 and st.NOMINAL_RESOLUTION["s"] == 384
    quick = st.make_plan({**st.PROFILES["quick"], "dataset": "cifar10"}, profile="quick")
    assert quick.sizes("s") == (32, 32)
    assert any("V2-S-shared at 32/32 px instead of 384/384 px" in d for d in quick.departures())
    assert "departs from the paper recipe" in quick.describe()


def test_validation_split_setting():
    """Full profile: CIFAR trains on every training image and evaluates on the
    test split; ImageNet holds out the official minival share; quick: 10%."""
    full = st.make_plan(st.PROFILES["full"], profile="full")
    assert full.validation_split is None
    imagenet = st.make_plan({**st.PROFILES["full"], "dataset": "imagenet"})
    assert imagenet.validation_split == pytest.approx(25_021 / 1_281_167)
    assert st.make_plan(st.PROFILES["quick"]).validation_split == 0.1
    assert st.make_plan({**st.PROFILES["quick"], "validation_split": "none"}).validation_split is None
    assert st.make_plan({**st.PROFILES["quick"], "validation_split": "0.2"}).validation_split == 0.2
    with pytest.raises(ValueError, match="validation_split=1.5"):
        st.make_plan({**st.PROFILES["quick"], "validation_split": 1.5})
    everything = st.make_plan({**st.PROFILES["quick"], "validation_split": None, "train_limit": None})
    splits, train_px, eval_px = st.plan_splits(everything, "b0", seed=0)
    assert (len(splits.train), train_px, eval_px) == (1437, 32, 32)  # 1,797 digits less the 360 test images
    assert splits.val is splits.test and len(splits.test) == 360
    held_out, _, _ = st.plan_splits(st.make_plan({**st.PROFILES["quick"], "train_limit": None}), "b0", seed=0)
    assert (len(held_out.train), len(held_out.val)) == (1293, 144)


def test_grey_recipes_are_reachable_and_load_as_rgb(tmp_path):
    for name in ("fashion-mnist", "FashionMNIST", "fashion_mnist"):
        assert st.make_plan({**st.PROFILES["quick"], "dataset": name}).recipe.label == "Fashion-MNIST"
    plan = st.make_plan({**st.PROFILES["full"], "dataset": "mnist", "data_dir": str(tmp_path)}, profile="full")
    assert plan.recipe.label == "MNIST" and plan.sizes("s") == (32, 32) and plan.recipe.augmentation == "none"
    assert st.THESIS_REFERENCE_DATASET["mnist"] == "CIFAR-10"
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = torch.zeros(10, 28, 28, dtype=torch.uint8)
    images[1::2, 10:18, 10:18] = 255  # odd images: a white square
    for prefix, n in (("train", 10), ("t10k", 10)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images[:n])
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(n) % 10)
    splits, train_px, eval_px = st.plan_splits(plan, "b0", seed=0)
    assert (train_px, eval_px) == (32, 32) and len(splits.train) == 10 and splits.val is splits.test
    image, label = splits.test[1]
    assert image.shape == (3, 32, 32) and label.item() == 1
    assert image.min().item() == pytest.approx(-1.0, abs=1e-5) and image.max().item() == pytest.approx(127 / 128)
    assert torch.equal(image[0], image[2])


def test_scaled_down_models_keep_the_parameter_order_only_at_full_depth():
    """Table 4.2's premise (V2-S-shared smaller than V2-B0) survives scaling
    the width, not the depth: depth_mult < 1 removes the repeats sharing ties."""

    def params(label: str, width: float, depth: float) -> int:
        return count_parameters(st.build_experiment_model(label, 10, width_mult=width, depth_mult=depth))

    assert params("V2-S-shared", 0.25, 1.0) < params("V2-B0-original", 0.25, 1.0)
    assert params("V2-S-shared", 0.25, 0.25) > params("V2-B0-original", 0.25, 0.25)


def _write_idx(path, values: torch.Tensor) -> None:
    magic = 0x00000803 if values.ndim == 3 else 0x00000801
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in values.shape)
    path.write_bytes(header + values.to(torch.uint8).numpy().tobytes())


def test_results_rows_record_the_recipe_and_older_logs_still_read(tmp_path):
    plan = st.make_plan(_tiny_settings(models="V2-B0-shared", epochs=1, train_limit=64), profile="quick", seed=0)
    rows = st.run_experiments(plan, seed=0, results_csv=tmp_path / "r.csv", checkpoint_dir=tmp_path, progress=False)
    row = rows.iloc[0]
    assert (row["optimizer"], row["image_size"], row["eval_image_size"]) == ("rmsprop", 32, 32)
    assert row["validation_split"] == 0.1 and row["train_images"] == 64
    old = rows.drop(columns=list(st.LATER_COLUMNS))
    old.to_csv(tmp_path / "old.csv", index=False)
    read = st.read_results(tmp_path / "old.csv")
    assert list(read.columns) == list(st.RESULT_COLUMNS) and read["optimizer"].isna().all()
    rows.drop(columns=["params"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="missing columns"):
        st.read_results(tmp_path / "bad.csv")


def test_missing_cifar_gives_download_hint(tmp_path):
    plan = st.make_plan({**st.PROFILES["full"], "data_dir": str(tmp_path)}, profile="full")
    with pytest.raises(DatasetNotFoundError, match="download"):
        st.run_experiments(plan, results_csv=tmp_path / "r.csv", checkpoint_dir=tmp_path, progress=False)


def test_sigkilled_process_resumes_bit_identical(tmp_path):
    """A real ``kill -9`` of ``python -m reuseprior train`` after its first
    checkpoint; the resumed run ends in exactly the uninterrupted run's state."""
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT)}

    def command(name: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "reuseprior",
            "train",
            "--models",
            "V2-B0-original",
            "--epochs",
            "3",
            "--train-limit",
            "128",
            "--device",
            "cpu",
            "--resume",
            "true",
            "--no-progress",
            "--output-dir",
            str(tmp_path / name),
            "--checkpoint-dir",
            str(tmp_path / name / "ckpt"),
        ]

    subprocess.run(command("whole"), env=env, check=True, capture_output=True)
    proc = subprocess.Popen(command("killed"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "killed" / "ckpt"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(ckpt.glob("*.pt")):
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    (path,) = ckpt.glob("*.pt")
    assert load_checkpoint(path)["epoch"] < 3
    subprocess.run(command("killed"), env=env, check=True, capture_output=True)
    a = load_checkpoint(next((tmp_path / "whole" / "ckpt").glob("*.pt")))
    b = load_checkpoint(path)
    assert a["epoch"] == b["epoch"] == 3
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    _assert_same_history(a["history"], b["history"])


def test_notebook_parameters_to_overrides():
    assert st.parameters_to_overrides(dataset=None, epochs=2, download=False, amp="true") == {"epochs": 2, "amp": True}
    assert st.parameters_to_overrides(download="True", resume=None) == {"download": True}
    with pytest.raises(ValueError, match="amp"):
        st.parameters_to_overrides(amp="maybe")


def test_run_log_stays_local_and_tracked_results_are_reproducible(tmp_path, monkeypatch):
    """The run log keeps timings, memory, the checkpoint (relative to the
    repository root when inside it) and the finish time; the tracked
    ``results`` table drops them and the cost table holds the measurements."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)  # checkpoints below the "repository"
    plan = st.make_plan(_tiny_settings(models="V2-B0-shared", epochs=1, train_limit=64), profile="quick", seed=0)
    rows = st.run_experiments(
        plan, seed=0, results_csv=tmp_path / "log.csv", checkpoint_dir=tmp_path / "ckpt", progress=False
    )
    assert rows["checkpoint"].item() == "ckpt/quick-digits-V2-B0-shared-w0.25-d0.25-s0.pt"
    assert len(st.history_frame(rows)) == 2  # the relative checkpoint is found again
    tracked = st.tracked_results(rows)
    assert not set(st.MEASURED_COLUMNS) & set(tracked.columns)
    assert list(tracked.columns) == [c for c in st.RESULT_COLUMNS if c not in st.MEASURED_COLUMNS]
    assert str(tmp_path) not in tracked.to_csv(index=False)
    cost = st.cost_table(rows)
    assert {"train_images_per_s", "train_time_s", "peak_memory_mb", "peak_memory_kind"} <= set(cost.columns)


def test_default_run_log_is_outside_the_tracked_figures(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.MEASURED_ENV_VAR, raising=False)
    default = st.default_results_csv()
    assert default == paths.BUILD_DIR / "measured" / "ch4_sharing_training" / "results.csv"
    assert paths.FIGURES_DIR not in default.parents
    monkeypatch.setenv(paths.MEASURED_ENV_VAR, str(tmp_path))
    assert st.default_results_csv() == tmp_path / "ch4_sharing_training" / "results.csv"


def test_training_figure_caption_names_the_data():
    quick = st.make_plan(st.PROFILES["quick"], profile="quick", seed=0)
    caption = st.data_caption(quick, 0, train_images=512)
    for part in (
        "scikit-learn 8x8 handwritten digits",
        "32x32",
        "512 training images",
        "3 epochs",
        "profile 'quick'",
        "seed 0",
    ):
        assert part in caption, (part, caption)
    full = st.make_plan(st.PROFILES["full"], profile="full", seed=0)
    assert "CIFAR-10 (torchvision)" in st.data_caption(full, 0) and "paper-scale" in st.data_caption(full, 0)


def _one_weight_steps(optimizer: str, grads: list[float]) -> list[float]:
    """The weight after each step of ``optimizer`` on a one-weight model fed ``grads``."""
    weight = nn.Parameter(torch.tensor([[1.0]]))
    model = nn.Module()
    model.weight = weight
    config = TrainConfig(optimizer=optimizer, weight_decay=0.0, batch_size=256, lr_base=0.016)
    opt = loop.make_optimizer(model, config)
    values = []
    for g in grads:
        weight.grad = torch.tensor([[g]])
        opt.step()
        values.append(weight.item())
    return values


def test_rmsprop_tf_follows_tensorflow_1_update_rule():
    """TF1 RMSprop: ms starts at 1, ms = rho ms + (1-rho) g^2, mom = mu mom + lr g / sqrt(ms + eps), w -= mom."""
    grads = [0.5, -0.2, 0.3]
    lr, rho, mu, eps = 0.016, 0.9, 0.9, 1e-3
    w, ms, mom, expected = 1.0, 1.0, 0.0, []
    for g in grads:
        ms = rho * ms + (1 - rho) * g * g
        mom = mu * mom + lr * g / math.sqrt(ms + eps)
        w -= mom
        expected.append(w)
    assert _one_weight_steps("rmsprop_tf", grads) == pytest.approx(expected, rel=1e-6)
    # PyTorch's RMSprop: mean square from 0 and epsilon outside the root, so its first step is about 6x larger
    torch_first = lr * grads[0] / (math.sqrt((1 - rho) * grads[0] ** 2) + eps)
    assert 1.0 - _one_weight_steps("rmsprop", grads[:1])[0] == pytest.approx(torch_first, rel=1e-6)
    assert torch_first / (1.0 - expected[0]) > 5


def test_official_normalization_maps_pixels_to_minus_one_one():
    """EfficientNetV2's input scaling (x - 128) / 128: 0 -> -1, 128 -> 0, 255 -> 127/128."""
    _, official = build_transforms("none", 32)
    _, imagenet = build_transforms("none", 32, normalization="imagenet")
    for value, expected in ((0, -1.0), (128, 0.0), (255, 127 / 128)):
        image = Image.new("RGB", (32, 32), (value,) * 3)
        assert torch.allclose(official(image), torch.full((3, 32, 32), expected), atol=1e-6)
    black = Image.new("RGB", (32, 32), (0, 0, 0))
    assert imagenet(black)[0, 0, 0].item() == pytest.approx((0 - 0.485) / 0.229, abs=1e-6)
    with pytest.raises(ValueError, match="normalization='caffe' is not known"):
        build_transforms("none", 32, normalization="caffe")


def _clipped_gradient_norms(grad_clip: float | None) -> list[float]:
    """The total gradient norm of a small model's parameters after each of ``fit``'s steps."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    data = TensorDataset(torch.randn(24, 12), torch.randint(0, 3, (24,)))
    config = TrainConfig(optimizer="sgd", batch_size=4, epochs=1, lr_warmup_epochs=0, grad_clip=grad_clip)
    norms: list[float] = []

    def on_step(epoch: int, step: int) -> None:  # noqa: ARG001 (fit's callback signature)
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    val = TensorDataset(torch.randn(4, 12), torch.zeros(4, dtype=torch.long))
    fit(model, data, val, config, progress=False, on_step=on_step)
    return norms


def test_gradient_clipping_bounds_every_steps_gradient_norm():
    assert min(_clipped_gradient_norms(None)) > 1e-3
    clipped = _clipped_gradient_norms(1e-3)
    assert len(clipped) == 6 and max(clipped) <= 1e-3 * (1 + 1e-5)
