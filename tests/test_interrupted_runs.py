"""Interrupted long commands keep what they finished and continue from it: a Revolver population
(Ctrl-C or SIGTERM in the middle of a generation saves the last finished one, whatever
``--checkpoint-every``), ``depth-width --store`` (each row kept as it is counted, the stored run replaced
only once complete and as an uninterrupted run writes it), and the line ``python -m reuseprior`` prints
claims only what the command saved."""

from __future__ import annotations

import argparse
import os
import signal

import pandas as pd
import pytest
import torch
from tiny_population import tiny_population

from reuseprior.chapters import ch5_depth_width as dw
from reuseprior.commands import Interrupted, interrupt_note, main
from reuseprior.commands import depth_width as dw_cli
from reuseprior.commands.parsers import depth_width as dw_parser
from reuseprior.revolver.population import Population

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the committed stored run (the tests below write theirs under tmp_path)
COMMITTED_RUN = dw_parser.STORED_RUN


# ------------------------------------------------------------------ revolver
def _interrupt_in_generation(monkeypatch, generation: int, how: str) -> None:
    """Interrupt the run at the first evaluation of ``generation``, after its search changed the population."""
    evaluate = Population._evaluate

    def interrupted(self, *args, **kwargs):
        if self.generation == generation:
            if how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)  # the command turns it into KeyboardInterrupt
            raise KeyboardInterrupt
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(Population, "_evaluate", interrupted)


#: a tiny run of four generations on the digits
_TINY = (
    "--dataset digits --population-size 2 --sample-size 1 --warmup-x 1 --warmup-epoch 0 --batch-size 32 "
    "--epochs 4 --device cpu"
).split()


def _revolver(folder, *flags: str) -> int:
    return main(["revolver", *_TINY, "--output-dir", str(folder), *flags])


def _tables(folder) -> tuple[pd.DataFrame, pd.DataFrame]:
    results = pd.read_csv(folder / "results.csv").drop(columns="seconds")
    return results, pd.read_csv(folder / "generations.csv").drop(columns="seconds")


@pytest.mark.parametrize("how, every", [("ctrl-c", "1"), ("sigterm", "3")])
def test_an_interrupted_revolver_run_resumes_its_finished_generations(tmp_path, monkeypatch, capsys, how, every):
    """Interrupted in generation 2 (of 4), the run keeps generations 0-1 (checkpoint and results, even
    with ``--checkpoint-every 3``) and ``--resume`` ends where the uninterrupted run ends."""
    assert _revolver(tmp_path / "straight") == 0
    handler = signal.getsignal(signal.SIGTERM)
    with monkeypatch.context() as patch:
        _interrupt_in_generation(patch, 2, how)
        assert _revolver(tmp_path / "run", "--checkpoint-every", every) == 130
    err = capsys.readouterr().err
    assert "interrupted; 2 of 4 generations finished and are saved" in err and "--resume" in err
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["generation"] == 2
    results, generations = _tables(tmp_path / "run")
    assert set(results["generation"]) == {0, 1} and list(generations["generation"]) == [0, 1]
    assert signal.getsignal(signal.SIGTERM) == handler  # the command's handler is gone
    assert _revolver(tmp_path / "run", "--checkpoint-every", every, "--resume") == 0
    assert "resumed" in capsys.readouterr().out
    for a, b in zip(_tables(tmp_path / "straight"), _tables(tmp_path / "run")):
        pd.testing.assert_frame_equal(a, b)
    assert (tmp_path / "run" / "table_3_2.csv").read_text() == (tmp_path / "straight" / "table_3_2.csv").read_text()


def test_a_revolver_run_interrupted_before_a_generation_finished_says_nothing_was_saved(tmp_path, monkeypatch, capsys):
    _interrupt_in_generation(monkeypatch, 0, "ctrl-c")
    assert _revolver(tmp_path / "run") == 130
    assert "no generation had finished, nothing was saved" in capsys.readouterr().err
    assert list((tmp_path / "run").iterdir()) == []


def test_checkpoint_every_must_be_positive(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["revolver", "--checkpoint-every", "0"])
    assert stop.value.code == 2
    assert "--checkpoint-every: must be an integer >= 1, got '0'" in capsys.readouterr().err


def _tiny(epochs: int = 4) -> Population:
    return tiny_population(epochs, seed=3, warmup_epoch=0, base_batches=2, min_batches=2, test_every=1)


def test_an_interrupted_population_rolls_back_to_its_last_finished_generation(tmp_path, monkeypatch):
    """``Population.run`` (the library, as the notebooks call it): interrupted mid-generation with
    ``checkpoint_every=0`` it saves its last finished generation, and both the rolled-back population and
    the checkpoint go on exactly as the uninterrupted run."""
    straight = _tiny().run()
    pop = _tiny()
    saved = []
    with monkeypatch.context() as patch:
        _interrupt_in_generation(patch, 2, "ctrl-c")
        with pytest.raises(KeyboardInterrupt):
            pop.run(checkpoint=tmp_path / "ck.pt", checkpoint_every=0, on_save=lambda p: saved.append(p.generation))
    assert pop.generation == 2 and saved == [2] and {r["generation"] for r in pop.rows} == {0, 1}
    resumed = Population.load(tmp_path / "ck.pt", pop.splits)
    for other in (pop.run(), resumed.run()):
        a, b = straight.results_frame().drop(columns="seconds"), other.results_frame().drop(columns="seconds")
        pd.testing.assert_frame_equal(a, b)
        assert straight.rng.bit_generator.state == other.rng.bit_generator.state
    with pytest.raises(ValueError, match="checkpoint_every must be an integer >= 0, got -1"):
        _tiny().run(checkpoint_every=-1)


# ------------------------------------------------------------------ depth-width --store
def _stored_rows() -> dict[tuple[str, int, int, bool], dict]:
    stored = pd.read_csv(COMMITTED_RUN, comment="#")
    return {(r["Table"], r["Width/Channels"], r["Depth"], bool(r["Shared"])): r for r in stored.to_dict("records")}


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """``analyze_config`` answered from the stored run (its floats given more digits than it stores, so the
    rounding of the stored file is exercised), the stored run and the partial rows under ``tmp_path``;
    yields the configurations counted."""
    rows = _stored_rows()
    calls: list[dw.DepthWidthConfig] = []

    def analyze_config(config):
        calls.append(config)
        name = next(n for n, configs in dw.TABLES.items() if config in configs)
        row = dict(rows[(name, config.width, config.depth, config.shared)])
        row = {k: v * (1 + 1e-9 / 3) if isinstance(v, float) else v for k, v in row.items()}
        row[dw.TABLE_KEYS[name][0]] = row.pop("Width/Channels")
        return {**row, "config.family": config.family}

    monkeypatch.setattr(dw, "analyze_config", analyze_config)
    monkeypatch.setattr(dw, "STORED_RUN", tmp_path / "stored.csv")
    monkeypatch.setattr(dw_cli, "PARTIAL_RUN", tmp_path / "build" / "partial.csv")
    return calls


def _data_lines(path) -> list[str]:
    """The file without its first line (the time it was written)."""
    return path.read_text().splitlines()[1:]


def test_depth_width_store_keeps_each_row_and_resumes_to_the_uninterrupted_file(counted, tmp_path, capsys):
    total = sum(len(configs) for configs in dw.TABLES.values())
    assert main(["depth-width", "--store"]) == 0
    assert len(counted) == total and not dw_cli.PARTIAL_RUN.exists()
    straight = _data_lines(dw.STORED_RUN)
    dw.STORED_RUN.write_text("# the stored run before\n")
    analyze = dw.analyze_config

    def interrupted(config):
        if len(counted) == len(dw.TABLES["table_5_1"]) + 3:
            raise KeyboardInterrupt
        return analyze(config)

    counted.clear()
    dw.analyze_config = interrupted  # restored by the fixture's monkeypatch
    assert main(["depth-width", "--store"]) == 130
    err = capsys.readouterr().err
    assert f"interrupted; the rows counted so far are kept in {dw_cli.PARTIAL_RUN}" in err
    assert "is unchanged: run the same command" in err
    assert dw.STORED_RUN.read_text() == "# the stored run before\n"  # the notebook never reads half a run
    kept = pd.read_csv(dw_cli.PARTIAL_RUN, comment="#")
    assert list(kept["Table"].value_counts().sort_index()) == [len(dw.TABLES["table_5_1"]), 3]
    counted.clear()
    dw.analyze_config = analyze
    assert main(["depth-width", "--store"]) == 0
    assert len(counted) == total - len(kept)  # the kept rows are not counted again
    assert "rows kept in" in capsys.readouterr().out
    assert _data_lines(dw.STORED_RUN) == straight and not dw_cli.PARTIAL_RUN.exists()


def test_depth_width_store_writes_the_stored_format(counted, tmp_path):
    """A complete run writes what the tables computed whole and stored at once write, and the committed
    file's columns and rows, in its order, at its precision."""
    assert main(["depth-width", "--store"]) == 0
    at_once = {name: dw.run_table(name, progress=False) for name in sorted(dw.TABLES)}
    dw.save_stored_run(at_once, tmp_path / "at_once.csv")
    assert _data_lines(dw.STORED_RUN) == _data_lines(tmp_path / "at_once.csv")
    ours = pd.read_csv(dw.STORED_RUN, comment="#")
    committed = pd.read_csv(COMMITTED_RUN, comment="#")
    assert list(ours.columns) == list(committed.columns)
    pd.testing.assert_frame_equal(ours.drop(columns="seconds"), committed.drop(columns="seconds"), rtol=1e-8)


def test_an_unreadable_partial_run_is_named_with_the_fix(counted, capsys):
    dw_cli.PARTIAL_RUN.parent.mkdir(parents=True)
    dw_cli.PARTIAL_RUN.write_text("not,the,format\n1,2,3\n")
    assert main(["depth-width", "--store"]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "delete it to count every row afresh" in err


@pytest.mark.parametrize(
    "flags",
    [["--table", "table_5_1"] * 4, ["--table", "table_5_1", "--table", "table_5_2"] * 2, ["--max-depth", "64"]],
)
def test_depth_width_store_refuses_anything_but_every_table(flags, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["depth-width", "--store", *flags])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--store needs every table and no --max-depth" in err
    assert ("left out: --table table_5_3, --table table_5_4" in err) is ("table_5_2" in flags)


def test_depth_width_store_accepts_every_table_in_any_order():
    parser = argparse.ArgumentParser()
    dw_parser.add_arguments(parser)
    names = ["table_5_4", "table_5_1", "table_5_3", "table_5_2", "table_5_1"]
    args = parser.parse_args(["--store", *(x for n in names for x in ("--table", n))])
    dw_parser.check_arguments(parser, args)  # no SystemExit


# ------------------------------------------------------------------ the interrupt line of python -m reuseprior
def test_the_interrupt_line_claims_only_what_the_command_saved():
    assert interrupt_note("revolver", Interrupted("generation 3 of 9 is saved")) == "generation 3 of 9 is saved"
    assert "run the same command to resume" in interrupt_note("study", KeyboardInterrupt())
    assert "lost" in interrupt_note("analyze", KeyboardInterrupt())
    assert "saved" not in interrupt_note("depth-width", KeyboardInterrupt())  # without --store: nothing kept


@pytest.mark.parametrize(("profile", "dtype"), [("quick", torch.float64), ("full", torch.float32)])
def test_the_command_trains_in_its_profiles_precision(tmp_path, monkeypatch, profile, dtype):
    """The quick profile trains in float64, so the command's numbers are those of every CPU and of the
    notebook; the full profile in float32, the thesis's."""
    seen = []
    evaluate = Population._evaluate

    def recorded(self, *args, **kwargs):
        seen.append(torch.get_default_dtype())
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(Population, "_evaluate", recorded)
    flags = [*_TINY[:-4], "--epochs", "1", "--device", "cpu", "--output-dir", str(tmp_path)]
    assert main(["revolver", "--profile", profile, *flags]) == 0
    assert seen and set(seen) == {dtype} and torch.get_default_dtype() == torch.float32
