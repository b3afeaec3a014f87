"""The zoo registry (issue 61): every declared zoo against one schema, and a toy zoo declared in a test that
``score-zoos`` lists, scores and stores with no edit to a command, a parser or a list."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from torch import nn

from reuseprior.commands import main
from reuseprior.zoo import scoring
from reuseprior.zoo.distributed import connect

#: the zoos the thesis's chapter 6 reads: declared, whatever else is
THESIS_ZOOS = {"nb201", "pytorchcv", "timm", "torchvision"}


def _toy_catalogue() -> pd.DataFrame:
    return pd.DataFrame({"arch": ["toy0", "toy1", "toy2"], "accuracy": [30.0, 50.0, 70.0]})


def _toy_build(arch: str) -> nn.Module:
    """A CNN of ``1 + k`` channels for ``toy<k>``."""
    width = 1 + int(arch[3:])
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def _as_listed(cat: pd.DataFrame, seed: int) -> list[str]:
    return cat["arch"].tolist()


TOY = scoring.Zoo("toy", "three tiny CNNs (a test's zoo)", _toy_catalogue, _toy_build, 4, 8, 10, _as_listed)


def _module_level(function: object) -> bool:
    """A function a Dask worker can unpickle: defined at a module's top level (no ``<locals>``, no lambda)."""
    qualname = getattr(function, "__qualname__", "")
    return callable(function) and "<" not in qualname and getattr(function, "__module__", None) is not None


@pytest.mark.parametrize("name", sorted(THESIS_ZOOS))
def test_the_thesis_zoos_are_declared(name):
    assert name in scoring.list_zoos()


def test_every_declared_zoo_fits_one_schema():
    """Every entry: named as registered, a one-line description, callables a worker can unpickle, positive
    sizes; the listing sorted and the same each time; each older version's zoo of the same kind."""
    names = scoring.list_zoos()
    assert names == sorted(names) == scoring.list_zoos() and len(set(names)) == len(names)
    assert scoring.list_zoos("t*") == [n for n in names if n.startswith("t")]
    for name in names:
        zoo = scoring.get_zoo(name)
        assert isinstance(zoo, scoring.Zoo) and zoo.name == name
        assert isinstance(zoo.description, str) and zoo.description.strip() and "\n" not in zoo.description, name
        assert all(_module_level(f) for f in (zoo.catalogue, zoo.build, zoo.order)), name
        assert isinstance(zoo.batch_size, int) and zoo.batch_size > 0, name
        assert isinstance(zoo.num_classes, int) and zoo.num_classes > 1, name
        size = zoo.image_size
        assert (isinstance(size, int) and size > 0) or _module_level(size), name
        assert isinstance(zoo.compressed_csv, bool), name
        for version in range(1, scoring.SCORES_VERSION + 1):
            assert scoring.get_zoo(name, version).name == name
        fields = {f.name for f in dataclasses.fields(scoring.Zoo)} - {"name", "earlier"}
        assert all(1 <= version < scoring.SCORES_VERSION for version in zoo.earlier), name
        assert all(set(changes) <= fields for changes in zoo.earlier.values()), name


def test_an_unknown_zoo_is_refused_in_one_line_naming_the_closest(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["score-zoos", "nb2O1", "--status"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert "score-zoos: error: unknown zoo 'nb2O1': did you mean 'nb201'? list them with" in err
    assert "python -m reuseprior score-zoos --list" in err
    with pytest.raises(SystemExit):
        main(["score-zoos"])
    assert "name the zoos to score" in capsys.readouterr().err


def test_a_zoo_whose_name_cannot_name_its_tables_is_refused_when_it_registers(register):
    """Issue 74: ``toy-mlps`` registered and passed the schema test, then ``score-zoos`` failed with a traceback
    (a zoo's name becomes its SQLite tables' names). The registry refuses it, naming the form a name has."""
    for name in ("toy-mlps", "Toy", "2toy", "toy mlps"):
        with pytest.raises(ValueError, match=rf"zoo name '{name}' is refused: .*letters, digits and '_'.*SQLite"):
            scoring.register_zoo(dataclasses.replace(TOY, name=name))
        with pytest.raises(ValueError, match="is refused"):
            register(scoring.ZOOS, name, TOY)
        assert name not in scoring.list_zoos()


@pytest.mark.dask
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # NASWOT of a 1-channel net
def test_a_toy_zoo_declared_here_is_listed_scored_and_stored_by_score_zoos(tmp_path, register, capsys):
    """The toy zoo is registered by this test alone: ``score-zoos`` lists it, scores its three models on
    Dask and stores a row each, with no edit to the command, its parser or a list of zoos."""
    register(scoring.ZOOS, "toy", TOY)
    assert main(["score-zoos", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "toy: three tiny CNNs (a test's zoo)" in listed and len(listed) == len(scoring.list_zoos())
    with connect(workers=1, processes=False, say=lambda _: None) as client:
        address = client.scheduler.address
        assert main(["score-zoos", "toy", "--data-dir", str(tmp_path), "--scheduler", address]) == 0
    assert "toy:" in capsys.readouterr().out
    rows = scoring.load_scores("toy", scoring.SCORES_VERSION, tmp_path)
    assert rows["arch"].tolist() == ["toy0", "toy1", "toy2"]
    assert rows["accuracy"].tolist() == [30.0, 50.0, 70.0]
    assert rows[["params", "PG", "synflow"]].notna().all().all()
    assert rows["params"].is_monotonic_increasing  # wider models, more parameters
    assert (tmp_path / "zoo_scores.sqlite").exists()
    state = scoring.completeness("toy", scoring.SCORES_VERSION, tmp_path)
    assert state.missing == 0
