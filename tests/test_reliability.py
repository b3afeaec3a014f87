"""Reliability policies: the counting engine refuses inputs it would
miscount and names what it cannot capture, arguments are validated by name,
checkpoints are read without unpickling code, a Revolver run never resumes
with other flags nor overwrites a finished run unasked, and checkpoint writes
survive a crash or a second writer (atomic replace)."""

from __future__ import annotations

import argparse
import os
import pickle
import random
import stat
import sys
import warnings

import numpy as np
import pytest
import torch
from tiny_population import tiny_population
from torch import nn
from torch.utils.data import TensorDataset

from reuseprior.commands import main
from reuseprior.commands import revolver as cli
from reuseprior.counting import (
    CaptureError,
    DataDependentCountWarning,
    DataDependentShapeError,
    analyze,
    count_contexts,
)
from reuseprior.priors.energy import PathDiscountedPrior
from reuseprior.revolver.population import CHECKPOINT_FORMAT as POPULATION_FORMAT
from reuseprior.revolver.population import Population
from reuseprior.training.loop import (
    CHECKPOINT_FORMAT,
    CheckpointMismatchError,
    TrainConfig,
    UnreadableCheckpointError,
    fit,
    load_checkpoint,
    save_checkpoint,
)
from reuseprior.training.loop.checkpoints import rng_state, set_rng_state

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------ counting: one example
def test_a_batch_of_several_examples_is_refused_with_the_fix():
    """Counts are per example: a batch of several is refused with the fix,
    since its counts would be summed over the examples while NI and NO count
    one."""
    torch.manual_seed(0)
    model = nn.Linear(10, 3)
    one = analyze(model, torch.zeros(1, 10))
    assert (one.expected_spread, round(one.PG_prime, 6), one.NI, one.NO) == (0.0, 2.84276, 10, 3)
    for fn in (analyze, count_contexts):
        with pytest.raises(ValueError, match=r"batch of 4 examples \(shape \(4, 10\)\).*per example.*x\[:1\]"):
            fn(model, torch.zeros(4, 10))


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.zeros(0, 10), r"batch of 0 examples \(shape \(0, 10\)\).*torch\.zeros\(1, 10\)"),
        (torch.zeros(1, 10, dtype=torch.complex64), r"complex \(torch\.complex64.*real input"),
        (torch.zeros(1, 0), r"no elements \(shape \(1, 0\)\)"),
    ],
)
def test_empty_and_complex_inputs_get_their_own_message(x, message):
    """An empty or a complex input is named as such, not answered with the
    generic 'no weight has a context'."""
    for fn in (analyze, count_contexts):
        with pytest.raises(ValueError, match=message):
            fn(nn.Linear(max(x.shape[-1], 1), 3), x)


# ------------------------------------------------------------------ counting: data-dependent shapes
class _MaskedSum(nn.Module):
    def __init__(self, how: str):
        super().__init__()
        self.lin, self.how = nn.Linear(10, 3), how

    def forward(self, x):
        h = self.lin(x)
        if self.how == "mask":
            return h[h > 0].sum().reshape(1, 1)
        if self.how == "masked_select":
            return h.masked_select(h > 0).sum().reshape(1, 1)
        return torch.where(h > 0, h, 0).sum(1, keepdim=True)  # the fixed-shape rewrite


@pytest.mark.parametrize("how, op", [("mask", r"aten\.index"), ("masked_select", r"aten\.masked_select")])
def test_data_dependent_shapes_are_named_with_the_rewrite(how, op):
    """Boolean-mask indexing (a shape that depends on the data) raises
    DataDependentShapeError naming the op, the weights and the fixed-shape
    rewrite."""
    with pytest.raises(
        DataDependentShapeError,
        match=op + r".*lin\.(bias|weight).*depends on the values of the "
        r"data.*torch\.where\(mask, x, 0\) or x \* mask",
    ) as err:
        analyze(_MaskedSum(how), torch.randn(1, 10))
    assert isinstance(err.value, CaptureError)  # the CLI prints it without a traceback
    assert analyze(_MaskedSum("where"), torch.randn(1, 10)).NG == 33  # the rewrite counts


# ------------------------------------------------------------------ counting: discount
@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 0.0, -0.5, "0.5", True, None])
def test_discount_is_validated_by_name(bad):
    """A discount that is not a finite number > 0 is refused with a
    ValueError naming ``discount``."""
    deep = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    for fn in (analyze, count_contexts):
        with pytest.raises(ValueError, match=r"discount must be a (finite )?number"):
            fn(deep, torch.zeros(1, 4), discount=bad)
    if bad == "0.5":
        with pytest.raises(ValueError, match=r"discount=float\('0\.5'\)"):
            analyze(deep, torch.zeros(1, 4), discount=bad)
    assert analyze(deep, torch.zeros(1, 4), discount=np.float64(0.5)).discount == 0.5  # NumPy floats are fine


def test_path_discounted_prior_names_a_bad_gamma():
    with pytest.raises(ValueError, match=r"gamma must be a number.*got '0\.5' of type str"):
        PathDiscountedPrior("0.5")


def test_analyze_command_refuses_an_infinite_discount_without_a_traceback(capsys):
    with pytest.raises(SystemExit) as done:
        main(["analyze", "constant_width_mlp", "--input", "4", "--discount", "inf"])
    assert done.value.code == 2
    assert "argument --discount: must be a finite number > 0" in capsys.readouterr().err


# ------------------------------------------------------------------ counting: embedding
class _Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.head = nn.Embedding(10, 4), nn.Linear(12, 2)

    def forward(self, ids):
        return self.head(self.emb(ids).flatten(1))


def test_counts_that_depend_on_the_input_values_are_flagged():
    """nn.Embedding counts only the rows the token ids pick: two inputs of one
    shape give different counts, so such counts carry a warning."""
    with pytest.warns(DataDependentCountWarning, match=r"values of example_input.*aten\.embedding") as record:
        a = analyze(_Tokens(), torch.tensor([[1, 2, 3]]))
    assert record[0].filename == __file__  # points at the caller's line
    with pytest.warns(DataDependentCountWarning):
        b = analyze(_Tokens(), torch.tensor([[1, 1, 1]]))
    assert a.NG != b.NG  # what the warning is about
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a model whose counts depend on shapes only: no warning
        analyze(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), torch.zeros(1, 3))


class _Masked(nn.Module):
    """A mask from the input's values, or built from its shape only (as Swin's
    shifted-window mask starts from ``x.new_zeros``)."""

    def __init__(self, from_values: bool):
        super().__init__()
        self.lin, self.from_values = nn.Linear(4, 4), from_values

    def forward(self, x):
        if self.from_values:
            mask = x > 0
        else:
            mask = x.new_ones(x.shape).cumsum(1) <= 2  # the first two columns, whatever x holds
        return self.lin(x).masked_fill(mask, 0.0)


def test_a_mask_read_from_the_input_values_is_flagged_one_built_from_its_shape_is_not():
    with pytest.warns(DataDependentCountWarning, match=r"aten\.masked_fill"):
        analyze(_Masked(True), torch.tensor([[1.0, -1.0, 1.0, -1.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert analyze(_Masked(False), torch.zeros(1, 4)).NG == 10  # rows 2, 3 of the weight and bias


# ------------------------------------------------------------------ checkpoints: never unpickle code
class _RunsCode:
    """Unpickling this calls ``os.mkdir(marker)``: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _crafted(path, marker, *, legacy: bool = False, **state) -> None:
    payload = {"format": CHECKPOINT_FORMAT, **state, "x": _RunsCode(str(marker))}
    if legacy:  # a plain pickle (torch.load's legacy format)
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_crafted_training_checkpoint_is_refused_and_runs_nothing(tmp_path, legacy):
    marker = tmp_path / "code-ran"
    path = tmp_path / "checkpoint.pt"
    _crafted(path, marker, legacy=legacy)
    with pytest.raises(UnreadableCheckpointError, match=r"refused unread.*start a fresh run"):
        load_checkpoint(path)
    assert not marker.exists()
    x = torch.randn(32, 4)
    data = TensorDataset(x, (x[:, 0] > 0).long())
    with pytest.raises(CheckpointMismatchError, match="refused unread"):  # what fit(resume=True) meets
        fit(nn.Linear(4, 2), data, data, TrainConfig(epochs=1, batch_size=16), checkpoint_path=path, progress=False)
    assert not marker.exists()


def test_a_crafted_population_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "code-ran"
    _crafted(tmp_path / "ck.pt", marker, format=POPULATION_FORMAT)
    with pytest.raises(ValueError, match=r"refused unread"):
        Population.load(tmp_path / "ck.pt", splits=None)
    assert not marker.exists()
    run = tmp_path / "run"
    run.mkdir()
    _crafted(run / "checkpoint.pt", marker, format=POPULATION_FORMAT)
    assert main(["revolver", "--resume", "--device", "cpu", "--output-dir", str(run)]) == 2
    assert not marker.exists()


def test_old_and_foreign_files_are_named_with_what_to_do(tmp_path):
    old = tmp_path / "old.pt"  # format 1 pickled NumPy's random state
    torch.save({"format": 1, "rng": {"numpy": np.random.get_state()}}, old)
    with pytest.raises(UnreadableCheckpointError, match=r"numpy.*older reuseprior.*start a fresh run"):
        load_checkpoint(old)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(UnreadableCheckpointError, match="holds a list, not a checkpoint dictionary"):
        load_checkpoint(tmp_path / "list.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(UnreadableCheckpointError, match="torch.load cannot read it"):
        load_checkpoint(tmp_path / "text.pt")
    save_checkpoint({"format": 1, "x": torch.arange(2)}, tmp_path / "one.pt")
    with pytest.raises(UnreadableCheckpointError, match=r"older format \(1; this version writes and reads 2\)"):
        load_checkpoint(tmp_path / "one.pt")


def test_checkpoints_written_by_fit_load_with_weights_only_and_restore_every_generator(tmp_path):
    x = torch.randn(32, 4)
    data = TensorDataset(x, (x[:, 0] > 0).long())
    path = tmp_path / "c.pt"
    fit(nn.Linear(4, 2), data, data, TrainConfig(epochs=1, batch_size=16), checkpoint_path=path, progress=False)
    state = torch.load(path, weights_only=True)  # tensors and plain numbers only
    assert state["format"] == CHECKPOINT_FORMAT == 2
    random.seed(5)
    np.random.seed(6)
    random.gauss(0, 1)  # a cached Gaussian in Python's state
    np.random.standard_normal()
    save_checkpoint({"format": CHECKPOINT_FORMAT, "rng": rng_state()}, path)
    expected = (
        random.random(),
        random.gauss(0, 1),
        np.random.random(),
        np.random.standard_normal(),
        torch.rand(1).item(),
    )
    set_rng_state(load_checkpoint(path)["rng"])
    assert (
        random.random(),
        random.gauss(0, 1),
        np.random.random(),
        np.random.standard_normal(),
        torch.rand(1).item(),
    ) == expected


# ------------------------------------------------------------------ checkpoints: atomic writes
def _record_writes(monkeypatch):
    """Record the temporary names renamed into place and what was fsynced."""
    replaced, synced = [], []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src, dst):
        replaced.append((os.fspath(src), os.fspath(dst)))
        real_replace(src, dst)

    def fsync(fd):
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    return replaced, synced


def _check_writes(replaced, synced, target) -> None:
    temps = [src for src, dst in replaced if dst == os.fspath(target)]
    assert len(temps) == 2 and len(set(temps)) == 2, temps  # a unique temporary name per write
    assert all(os.path.dirname(t) == os.path.dirname(os.fspath(target)) for t in temps)  # same folder
    assert synced.count("file") >= 2 and synced.count("dir") >= 2, synced  # file, then the folder's rename
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary file left


def test_training_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    replaced, synced = _record_writes(monkeypatch)
    path = tmp_path / "t.pt"
    save_checkpoint({"format": CHECKPOINT_FORMAT, "x": torch.arange(3)}, path)
    save_checkpoint({"format": CHECKPOINT_FORMAT, "x": torch.arange(4)}, path)
    _check_writes(replaced, synced, path)

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"format": CHECKPOINT_FORMAT, "x": torch.arange(5)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.pt"]  # the temporary file is gone
    assert torch.equal(load_checkpoint(path)["x"], torch.arange(4))  # the old checkpoint is intact


def test_population_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    pop = tiny_population()
    replaced, synced = _record_writes(monkeypatch)
    path = tmp_path / "ck.pt"
    pop.save(path)
    pop.save(path)
    _check_writes(replaced, synced, path)
    assert Population.load(path, pop.splits).next_uid == pop.next_uid


# ------------------------------------------------------------------ revolver: flags of a run
def _revolver(tmp_path, *flags: str) -> int:
    return main(
        [
            "revolver",
            "--dataset",
            "digits",
            "--population-size",
            "2",
            "--sample-size",
            "1",
            "--warmup-x",
            "1",
            "--warmup-epoch",
            "0",
            "--batch-size",
            "32",
            "--device",
            "cpu",
            "--output-dir",
            str(tmp_path / "run"),
            *flags,
        ]
    )


def test_revolver_refuses_to_resume_with_other_flags(tmp_path, capsys):
    assert _revolver(tmp_path, "--epochs", "1") == 0
    ckpt = tmp_path / "run" / "checkpoint.pt"
    before = ckpt.read_bytes()
    assert _revolver(tmp_path, "--epochs", "2", "--lr", "0.3", "--resume") == 2
    err = capsys.readouterr().err
    assert "--epochs: 1 in the checkpoint, 2 now" in err and "--lr: 0.2 in the checkpoint, 0.3 now" in err
    assert "--overwrite" in err
    assert ckpt.read_bytes() == before  # untouched
    assert _revolver(tmp_path, "--epochs", "1", "--resume") == 0  # the same flags continue it
    assert "resumed" in capsys.readouterr().out


def test_revolver_refuses_to_resume_a_folder_holding_no_run(tmp_path, capsys):
    assert _revolver(tmp_path, "--epochs", "1", "--resume") == 2
    assert "holds no run to continue (no checkpoint.pt)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing started


def test_revolver_refuses_to_overwrite_a_run_without_overwrite(tmp_path, capsys):
    assert _revolver(tmp_path, "--epochs", "1") == 0
    before = (tmp_path / "run" / "results.csv").read_bytes()
    assert _revolver(tmp_path, "--epochs", "1", "--seed", "5") == 2
    err = capsys.readouterr().err
    assert "already holds a run (checkpoint.pt, results.csv" in err and "--resume" in err and "--overwrite" in err
    assert (tmp_path / "run" / "results.csv").read_bytes() == before
    assert _revolver(tmp_path, "--epochs", "1", "--seed", "5", "--overwrite") == 0
    assert (tmp_path / "run" / "results.csv").read_bytes() != before
    with pytest.raises(SystemExit):
        _revolver(tmp_path, "--epochs", "1", "--resume", "--overwrite")
    assert "give one of them" in capsys.readouterr().err


def test_revolver_overwrite_flag_is_documented():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert "--overwrite" in parser.format_help()


# ------------------------------------------------------------------ checkpoints that load but are damaged (issue 35, 8)
def _fitted_checkpoint(tmp_path):
    x = torch.randn(32, 4)
    data = TensorDataset(x, (x[:, 0] > 0).long())
    path = tmp_path / "c.pt"
    fit(nn.Linear(4, 2), data, data, TrainConfig(epochs=1, batch_size=16), checkpoint_path=path, progress=False)
    return path, data


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s.pop("model"), r"entries are damaged \(no 'model'\)"),
        (lambda s: s.update(epoch="1"), r"'epoch' is a str, not int"),
        (lambda s: s.update(epoch=-3), r"'epoch' is -3, not >= 0"),
        (lambda s: s["rng"].pop("torch"), r"entries are damaged \(KeyError: 'torch'\)"),
    ],
)
def test_a_training_checkpoint_with_missing_or_mistyped_entries_is_named(tmp_path, damage, message):
    path, data = _fitted_checkpoint(tmp_path)
    _damage(path, damage)
    with pytest.raises(UnreadableCheckpointError, match=rf"{message}.*start a fresh run"):
        fit(nn.Linear(4, 2), data, data, TrainConfig(epochs=2, batch_size=16), checkpoint_path=path, progress=False)


def test_random_bytes_are_not_called_an_older_checkpoint(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(UnreadableCheckpointError) as err:
        load_checkpoint(path)
    assert "torch.load cannot read it" in str(err.value) and "older reuseprior" not in str(err.value)


def _damage(path, damage) -> None:
    """Rewrite the checkpoint at ``path`` with ``damage`` applied to its entries."""
    state = torch.load(path, weights_only=True)
    damage(state)
    save_checkpoint(state, path)


def _population(tmp_path):
    pop = tiny_population()
    return pop, pop.save(tmp_path / "ck.pt")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s.update(generation=10**6), r"generation 1000000 of a run of 1 generations"),
        (lambda s: s.pop("individuals"), r"no 'individuals'"),
        (lambda s: s.update(next_uid=2.5), r"'next_uid' is a float, not int"),
        (lambda s: s.update(rows="{not json"), r"JSONDecodeError"),
    ],
)
def test_a_population_checkpoint_with_damaged_entries_is_named(tmp_path, damage, message):
    pop, path = _population(tmp_path)
    _damage(path, damage)
    with pytest.raises(UnreadableCheckpointError, match=rf"entries are damaged .*{message}.*start a fresh run"):
        Population.load(path, pop.splits)


# ------------------------------------------------------------------ train: resume as the help says (issue 35, item 2)
@pytest.mark.parametrize("flags, resume", [([], True), (["--resume", "false"], False), (["--profile", "full"], True)])
def test_train_resumes_on_every_profile_unless_told_otherwise(monkeypatch, tmp_path, capsys, flags, resume):
    """``train --profile quick`` run again started at epoch 0 although its help and its Ctrl-C message say
    that running the same command again continues."""
    from reuseprior.commands import train as cli_train

    seen = {}

    def interrupted(plan, **kwargs):
        seen["resume"] = plan.resume
        raise cli_train.TrainingInterrupted(fit_result_stub())

    monkeypatch.setattr(cli_train, "run_experiments", interrupted)
    monkeypatch.setattr(cli_train, "_print_gpu_estimate", lambda plan: None)
    assert main(["train", *flags, "--output-dir", str(tmp_path), "--device", "cpu"]) == 130
    assert seen["resume"] is resume
    out = capsys.readouterr().out
    assert ("run the same command to resume" in out) is resume
    assert ("--resume true" in out) is not resume


def fit_result_stub():
    from reuseprior.training.loop import TrainResult

    return TrainResult("interrupted", 1, [], 0, 0.0, 0.0, 0, "", 0.0, 0.0, 0.0)


def test_a_fresh_run_deletes_only_its_own_checkpoint(tmp_path):
    from reuseprior.training.loop import discard_checkpoint

    foreign = tmp_path / "quick-digits-V2-B0-w0.25-d0.25-s0.pt"
    foreign.write_text("my notes")
    with pytest.raises(UnreadableCheckpointError, match=r"It was kept: a fresh run deletes only its own checkpoint"):
        discard_checkpoint(foreign)
    assert foreign.read_text() == "my notes"
    ours, _ = _fitted_checkpoint(tmp_path)
    discard_checkpoint(ours)
    assert not ours.exists()
    discard_checkpoint(ours)  # nothing there: nothing to do


# ------------------------------------------------------------------ counting: inputs the model refuses (issue 35, 1)
class _IndexesItsInput(nn.Module):
    """Selects the input's positive entries before any layer (the issue's model)."""

    def __init__(self):
        super().__init__()
        self.l = nn.Linear(10, 3)

    def forward(self, x):
        return self.l(x[x > 0]).sum(0, keepdim=True)


def test_masking_the_input_by_its_values_is_refused_even_where_the_model_runs():
    with pytest.raises(DataDependentShapeError, match=r"aten\.index.*mask computed from the values of the input"):
        analyze(_IndexesItsInput(), torch.ones(1, 10))  # every entry positive: the eager model runs


@pytest.mark.parametrize(
    "model, x",
    [
        (_IndexesItsInput(), -torch.ones(1, 10)),  # no entry selected: the eager model raises
        (nn.Linear(10, 3), torch.ones(1, 10, dtype=torch.long)),
        (nn.Linear(10, 3), torch.ones(1, 10, dtype=torch.bool)),
    ],
)
def test_an_input_the_eager_model_refuses_is_refused(model, x):
    with pytest.raises(
        ValueError, match=rf"does not accept an input of shape .*dtype {x.dtype}.*pass an input it runs"
    ):
        analyze(model, x)


# ------------------------------------------------------------------ messages with figures (issue 35, item 9)
def test_an_input_too_large_to_count_is_refused_with_the_figure_before_it_is_allocated(monkeypatch, capsys):
    """``analyze resnet18 --input 3,20000,20000`` ended in an allocation traceback; here the machine is made
    small instead of the input large (128 MiB: resnet18 at 1000 x 1000 needs about 0.24 GiB)."""
    from types import SimpleNamespace

    from reuseprior.commands import analyze as cli_analyze

    monkeypatch.setattr(sys.modules["reuseprior.counting.capture"], "physical_memory_bytes", lambda: 2**27)
    allocated = []
    monkeypatch.setattr(cli_analyze, "torch", SimpleNamespace(zeros=lambda *a, **k: allocated.append(a)))
    assert main(["analyze", "resnet18", "--input", "3,1000,1000"]) == 2  # a usage error: the fix is a smaller --input
    err = capsys.readouterr().err
    assert "cannot count ResNet on an input of shape (1, 3, 1000, 1000): it needs at least 0.2 GiB" in err
    assert "this machine has 0.1 GiB; give a smaller input" in err and not allocated


@pytest.mark.parametrize("budget", [float("inf"), float("nan"), 1e12, 10**13])
def test_a_share_budget_that_is_infinite_or_cannot_fit_is_refused_with_the_figures(budget):
    from reuseprior.core.errors import SharingError
    from reuseprior.models.sharing import share

    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10))
    message = r"finite positive" if not np.isfinite(budget) else r"float32 stores.*more than this machine's"
    with pytest.raises(SharingError, match=message):
        share(model, "ssn", budget=budget, seed=0)
