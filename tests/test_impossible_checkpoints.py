"""A checkpoint whose values are impossible for its plan or its own history is refused before it is used,
and no result file is written from it (issue 57, item 5). The checkpoints are crafted as a tampered file
would be: read with ``torch.load(weights_only=True)`` as the code reads them, one value changed,
``torch.save``'d back."""

from __future__ import annotations

import json
import math

import pytest
import torch

from reuseprior.core.errors import UnreadableCheckpointError
from reuseprior.revolver.population import Population
from reuseprior.training.loop import TrainConfig, fit
from tests.test_reliability import _revolver
from tests.test_training import _data, _model
from tests.tiny_population import tiny_population

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tamper(path, **changes) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    torch.save({**state, **changes}, path)


def test_a_training_checkpoint_beyond_its_epochs_is_refused(tmp_path):
    train, val = _data()
    config = TrainConfig(epochs=2, batch_size=16, lr_base=0.05, seed=3)
    path = tmp_path / "ck.pt"
    fit(_model(), train, val, config, checkpoint_path=path, progress=False, stop_after_epoch=1)
    _tamper(path, epoch=1_000_000)
    with pytest.raises(UnreadableCheckpointError, match=r"epoch 1000000 is beyond the run's 2 epochs"):
        fit(_model(), train, val, config, checkpoint_path=path, progress=False)
    _tamper(path, epoch=1, history=[{"epoch": 0}] * 3)  # one row for the untrained model and each epoch
    with pytest.raises(UnreadableCheckpointError, match=r"its history has 3 rows where epoch 1 has 2"):
        fit(_model(), train, val, config, checkpoint_path=path, progress=False)


@pytest.fixture(scope="module")
def four_generations(tmp_path_factory):
    path = tmp_path_factory.mktemp("pop") / "ck.pt"
    pop = tiny_population(epochs=6)
    pop.run(until=4, checkpoint=path)
    return path, pop.splits


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"generation": 2}, r"its generation log holds generations \[0, 1, 2, 3\] where generation 2 has 0 to 1"),
        ({"rows": json.dumps([{"mode": 1}])}, r"an evaluation row \{'mode': 1\}: no generation, individual"),
        ({"coefficient": math.nan}, r"its coefficient is nan"),
    ],
    ids=["rewound", "rows", "nan coefficient"],
)
def test_an_impossible_population_checkpoint_is_refused(four_generations, tmp_path, changes, problem):
    source, splits = four_generations
    path = tmp_path / "ck.pt"
    path.write_bytes(source.read_bytes())
    assert Population.load(path, splits).generation == 4
    _tamper(path, **changes)
    with pytest.raises(UnreadableCheckpointError, match=rf"entries are damaged \({problem}.*start a fresh run"):
        Population.load(path, splits)


def test_revolver_resume_from_impossible_rows_writes_no_result(tmp_path, capsys):
    assert _revolver(tmp_path, "--epochs", "2") == 0
    run = tmp_path / "run"
    results = (run / "results.csv").read_bytes()
    _tamper(run / "checkpoint.pt", generation=1, rows=json.dumps([{"mode": 1}]))
    assert _revolver(tmp_path, "--epochs", "2", "--resume") == 2
    err = capsys.readouterr().err
    assert "entries are damaged" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (run / "results.csv").read_bytes() == results
