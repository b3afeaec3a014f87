"""Searching NAS-Bench-201 with the reusability prior, from the stored scores (no training).

Every cell's scores are read from the stored zoo scores
(``data/zoo_scores_v<N>_nb201.csv.xz``, :func:`reuseprior.zoo.scoring.load_scores`)
and every "trained" cell's accuracy from a stored label, so a search costs
no training and no scoring: it only chooses which cells' accuracies to look
up. Two labels (:data:`LABELS`):

- ``analog``: analog-nasbench 0.1.3's CIFAR-10 test accuracy of all 15,625
  cells, with the scores of the published version
  (:func:`reuseprior.zoo.scoring.published_version`: the newest complete one);
- ``official``: NAS-Bench-201's own ``cifar10-valid`` accuracy (epoch 200),
  available offline for NASLib's 725-cell subset only
  (``data/nasbench201_naslib_subset.csv``), with the scores of the newest
  version complete on those cells
  (:func:`reuseprior.zoo.scoring.version_complete_on`).

Protocols:

1. :func:`naswot_protocol` -- Mellor et al. 2021 ("Neural Architecture Search
   without Training", ICML), NAS-Bench-201 setting: sample ``N`` cells
   uniformly without replacement, pick the one with the best score, report the
   picked cell's accuracy; mean and SD over seeded repeats. The protocol has an
   exact answer, :func:`naswot_exact` (the expectation and SD of the picked
   accuracy over every draw, in closed form over the score's tie groups), which
   is the value reported; the seeded repeats are the check of it.
2. :func:`warmup_random_search` -- random search with a zero-cost warm-up
   (Abdelfattah et al. 2021, "Zero-Cost Proxies for Lightweight NAS", ICLR,
   section 5): score a pool of ``pool`` uniformly sampled cells, then train
   (look up) the pool's cells in the order of the score; without a score
   (``random``) the order is the sampling order, i.e. plain random search.
3. :func:`aging_evolution` -- aging evolution (Real et al. 2019, regularized
   evolution) with the same warm-up: the initial population is the
   ``population`` best-scoring cells of the pool (``random``: its first
   ``population`` cells, the usual random initialisation); each cycle draws
   ``sample_size`` members, mutates the most accurate one (one edge's
   operation replaced by one of the four others, uniformly) and replaces
   the oldest member by the child. Needs the whole space (a mutation may
   reach any cell), so it runs on the ``analog`` label only.

The protocols 2 and 3 report the best accuracy found against the number of
trained cells (every look-up counts, the initial population's included, a
cell visited twice counts twice); the warm-up pool's scores are not counted
(zero-cost, though not free: their CPU cost is stored with the scores, in
the ``<score>_cpu_seconds`` columns).

Policies:

- Direction: a higher score is better for every score here (as in the
  proxies' papers, :attr:`reuseprior.baselines.registry.ProxyInfo.higher_is_better`;
  for the thesis quantities fixed a priori, not chosen on the labels). A
  non-finite score (NaN, or NASWOT's ``-inf`` on disconnected cells) ranks
  below every finite one.
- Floor and ceiling: ``random`` ranks every cell equal, so the tie rule
  makes it a uniform random choice; ``oracle`` ranks by the label itself.
- Ties: cells are ranked by score, descending, then by their position in the
  sample (ascending), with stable sorts; since the sample's order is uniformly
  random, tied cells are chosen uniformly at random. A tournament's winner is
  the most accurate member, ties to the first drawn.
- Seeds: every random draw comes from ``numpy.random.default_rng`` seeded
  with ``(seed, protocol stream, size, repeat)``, independent of the score, so
  all scores of one repeat see the same samples and pools (paired
  comparisons), and a stored row can be recomputed exactly.

Results are stored through :class:`reuseprior.core.study.RunStore` (one run =
one protocol, label and score; its rows one per sample size or budget;
atomic rewrites) in ``data/nb201_search_runs.csv``: :func:`search_study`.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy.special import gammaln

from reuseprior.core import paths
from reuseprior.core.ordering import sort_rows
from reuseprior.core.stored_rows import ColumnKinds
from reuseprior.core.study import LiveCheck, RunStore, StudyRequest, StudySpec, checked_runs, stored_runs
from reuseprior.zoo.nasbench201 import NASLIB_SUBSET_CSV, OPS, load_naslib_subset, parse_arch
from reuseprior.zoo.scoring import load_scores, published_version, version_complete_on

__all__ = [
    "BASELINES",
    "LABELS",
    "PROTOCOLS",
    "SEARCH_SCORES",
    "SearchSettings",
    "SearchSpace",
    "aging_evolution",
    "check_stored",
    "recompute_searches",
    "load_space",
    "naswot_exact",
    "naswot_protocol",
    "search_rows",
    "search_run",
    "search_study",
    "warmup_random_search",
]

#: The scores that choose cells: PG and P'G (eqs. 4.7-4.8), the total surprisal S
#: (eq. 4.5), #parameters, SynFlow and NASWOT.
SEARCH_SCORES: tuple[str, ...] = ("PG", "PG_prime", "total_surprisal", "params", "synflow", "naswot")
#: The floor (a uniform random choice) and the ceiling (ranked by the label itself).
BASELINES: tuple[str, ...] = ("random", "oracle")
#: label -> what it is.
LABELS: dict[str, str] = {
    "analog": "analog-nasbench 0.1.3 CIFAR-10 test accuracy (its own retraining), all 15,625 cells",
    "official": "NAS-Bench-201 cifar10-valid accuracy at epoch 200 (NASLib's val_accuracy), 725-cell subset",
}
#: protocol -> (function name, the labels it runs on).
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "naswot": ("analog", "official"),
    "warmup-rs": ("analog", "official"),
    "warmup-ae": ("analog",),
}
#: The stored search results.
STORED_RUNS: Path = paths.DATA_DIR / "nb201_search_runs.csv"
#: Stored columns, in order.
COLUMNS: tuple[str, ...] = (
    "plan",
    "protocol",
    "label",
    "score",
    "size",
    "pool",
    "repeats",
    "mean",
    "sd",
    "sem",
    "median",
    "worst",
    "best_in_space",
    "first_pick",
    "scores_version",
    "seed",
)
#: the kinds of the stored values (``first_pick``: the first pick's cell string, text)
_MEASURES = ("size", "pool", "repeats", "mean", "sd", "sem", "median", "worst", "best_in_space", "scores_version")
COLUMN_KINDS = ColumnKinds(required=_MEASURES, numeric=(*_MEASURES, "seed"))
#: Relative tolerance of :func:`recompute_searches`: the stored CSV's 10 significant digits.
LIVE_TOLERANCE = 1e-9
#: SeedSequence stream ids of the protocols' draws.
_STREAM = {"naswot": 1, "pool": 2, "evolution": 3}


@dataclass(frozen=True)
class SearchSpace:
    """The cells a search may look up: ``archs`` (sorted), their ``accuracy``
    under ``label``, their stored ``scores`` (score -> array) and ``codes``
    (``(n, 6)`` operation indices into :data:`reuseprior.zoo.nasbench201.OPS`)."""

    label: str
    archs: np.ndarray
    accuracy: np.ndarray
    scores: Mapping[str, np.ndarray]
    codes: np.ndarray
    scores_version: int

    def __len__(self) -> int:
        return len(self.archs)

    @property
    def complete(self) -> bool:
        """Whether every cell of the search space is here (aging evolution needs it)."""
        return len(self) == len(OPS) ** 6

    def key(self, score: str) -> np.ndarray:
        """The ranking key of ``score`` (higher is better; non-finite -> ``-inf``;
        ``random``: all equal; ``oracle``: the label)."""
        if score == "random":
            return np.zeros(len(self))
        values = self.accuracy if score == "oracle" else self.scores[score]
        return np.where(np.isfinite(values), values, -np.inf)


def load_space(label: str, data_dir: Path | None = None) -> SearchSpace:
    """The :class:`SearchSpace` of ``label`` (see the module docstring), read once per process."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; choose from {sorted(LABELS)}")
    return _load_space(label, str(data_dir) if data_dir is not None else None)


@functools.lru_cache(maxsize=4)
def _load_space(label: str, data_dir: str | None) -> SearchSpace:
    folder = Path(data_dir) if data_dir is not None else None
    if label == "analog":
        version = published_version("nb201", folder)
        rows = load_scores("nb201", version, folder)
        accuracy_column = "accuracy"
    else:
        subset = load_naslib_subset((folder or paths.DATA_DIR) / NASLIB_SUBSET_CSV)
        version = version_complete_on("nb201", subset["arch"], folder)
        rows = load_scores("nb201", version, folder).merge(
            subset[["arch", "val_acc_cifar10"]], on="arch", how="inner", validate="one_to_one"
        )
        accuracy_column = "val_acc_cifar10"
    rows = sort_rows(rows, "arch", then="order").reset_index(drop=True)
    codes = np.array([[OPS.index(op) for op in parse_arch(a)] for a in rows["arch"]], dtype=np.int64)
    scores = {s: _frozen(rows[s].astype(float).to_numpy()) for s in SEARCH_SCORES}
    return SearchSpace(
        label,
        _frozen(rows["arch"].to_numpy(dtype=str)),
        _frozen(rows[accuracy_column].astype(float).to_numpy()),
        scores,
        _frozen(codes),
        int(version),
    )


def _frozen(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


def _rng(seed: int, stream: str, size: int, repeat: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM[stream], size, repeat])


def _ranked(key: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """``sample`` ordered by ``key`` descending, ties by position in ``sample`` (stable sort)."""
    return sample[np.argsort(-key[sample], kind="stable")]


def _summary(values: np.ndarray) -> dict[str, float]:
    """Mean, SD (ddof 1), standard error, median and worst of the repeats' accuracies."""
    n = len(values)
    sd = float(np.std(values, ddof=1)) if n > 1 else float("nan")
    return {
        "repeats": n,
        "mean": float(np.mean(values)),
        "sd": sd,
        "sem": sd / np.sqrt(n) if n > 1 else float("nan"),
        "median": float(np.median(values)),
        "worst": float(np.min(values)),
    }


def naswot_protocol(
    space: SearchSpace, score: str, sizes: Iterable[int], *, repeats: int, seed: int = 0
) -> pd.DataFrame:
    """Mellor et al.'s protocol: per sample size ``N`` and repeat, ``N`` cells drawn
    uniformly without replacement, the best by ``score`` picked (ties: the first
    drawn); one row per ``N`` with the picked accuracy's summary and
    ``first_pick``, the first repeat's pick. Sizes above the space's size are
    skipped."""
    key = space.key(score)
    rows = []
    for size in [s for s in sizes if s <= len(space)]:
        picks = np.empty(repeats, dtype=np.int64)
        for repeat in range(repeats):
            sample = _rng(seed, "naswot", size, repeat).choice(len(space), size, replace=False)
            picks[repeat] = sample[int(np.argmax(key[sample]))]
        rows.append(
            {"size": size, "pool": size, **_summary(space.accuracy[picks]), "first_pick": space.archs[picks[0]]}
        )
    return pd.DataFrame(rows)


def naswot_exact(space: SearchSpace, score: str, sizes: Iterable[int]) -> pd.DataFrame:
    """The exact answer of :func:`naswot_protocol` (``N`` cells drawn uniformly without replacement,
    the best by ``score`` picked, ties chosen uniformly: the module's tie policy): per ``N``, the
    expectation and SD of the picked cell's accuracy over every possible draw.

    Closed form: group the cells by their ranking key (:meth:`SearchSpace.key`), best first. The best
    group present in a draw is group ``g`` when the draw holds none of the ``a_g`` cells ranked above
    it but some of its ``s_g`` cells: ``P_g = h(a_g) - h(a_g + s_g)`` with ``h(k) = C(M - k, N) / C(M,
    N)`` the hypergeometric probability of drawing none of ``k`` marked cells of ``M`` (:func:`_none_drawn`,
    which equals :data:`scipy.stats.hypergeom`'s ``pmf(0, M, k, N)``). Given ``g``, the
    pick is uniform over the group's cells in the draw, hence (by symmetry) over the group: its
    accuracy has the group's mean ``m_g`` and variance ``v_g``. So ``E = sum_g P_g m_g`` and ``Var =
    sum_g P_g (v_g + (m_g - E)^2)`` (total variance). ``random`` is one group: the mean label at every
    ``N``. Sizes above the space's size are skipped."""
    key, accuracy = space.key(score), space.accuracy
    values, group = np.unique(-key, return_inverse=True)  # groups in descending key order
    counts = np.bincount(group, minlength=len(values))
    means = np.bincount(group, weights=accuracy) / counts
    variances = np.bincount(group, weights=(accuracy - means[group]) ** 2) / counts
    above = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rows = []
    for size in [n for n in sizes if n <= len(space)]:
        p = np.clip(_none_drawn(len(space), above, size) - _none_drawn(len(space), above + counts, size), 0.0, None)
        mean = float(p @ means)
        rows.append({"size": size, "mean": mean, "sd": float(np.sqrt(p @ (variances + (means - mean) ** 2)))})
    return pd.DataFrame(rows, columns=["size", "mean", "sd"])


def _none_drawn(total: int, marked: np.ndarray, size: int) -> np.ndarray:
    """``C(total - marked, size) / C(total, size)``: the probability that ``size`` cells drawn uniformly
    without replacement from ``total`` hold none of ``marked`` ones (0 where fewer than ``size`` are
    unmarked), from :func:`scipy.special.gammaln` (vectorised over ``marked``, where
    :data:`scipy.stats.hypergeom` evaluates element by element)."""
    free = total - np.asarray(marked, dtype=float)
    possible = free >= size
    free = np.where(possible, free, size)
    logs = gammaln(free + 1) - gammaln(free - size + 1) - gammaln(total + 1) + gammaln(total - size + 1)
    return np.where(possible, np.exp(logs), 0.0)


def _pool(space: SearchSpace, pool: int, repeat: int, seed: int) -> np.ndarray:
    """The warm-up pool of one repeat: ``pool`` cells drawn uniformly without replacement."""
    return _rng(seed, "pool", pool, repeat).choice(len(space), min(pool, len(space)), replace=False)


def warmup_random_search(
    space: SearchSpace, score: str, *, pool: int, budgets: Iterable[int], repeats: int, seed: int = 0
) -> pd.DataFrame:
    """Random search with a zero-cost warm-up (Abdelfattah et al. 2021): per
    repeat a pool of ``pool`` cells is ranked by ``score`` and trained in that
    order; one row per budget ``k`` (trained cells, at most the pool) with the
    summary of the best accuracy among the first ``k``."""
    key = space.key(score)
    pool = min(pool, len(space))
    steps = [k for k in budgets if k <= pool]
    best = np.empty((repeats, len(steps)))
    for repeat in range(repeats):
        order = _ranked(key, _pool(space, pool, repeat, seed))
        running = np.maximum.accumulate(space.accuracy[order[: max(steps)]])
        best[repeat] = running[np.asarray(steps) - 1]
    return pd.DataFrame(
        [{"size": k, "pool": pool, **_summary(best[:, j]), "first_pick": ""} for j, k in enumerate(steps)]
    )


def _code_index(space: SearchSpace) -> np.ndarray:
    """Cell number (base-5 digits of its operation indices) -> row of ``space``."""
    numbers = space.codes @ (len(OPS) ** np.arange(5, -1, -1))
    index = np.full(len(OPS) ** 6, -1, dtype=np.int64)
    index[numbers] = np.arange(len(space))
    return index


def _mutate(code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One edge's operation replaced by one of the four others, uniformly."""
    child = code.copy()
    edge = int(rng.integers(len(code)))
    other = int(rng.integers(len(OPS) - 1))
    child[edge] = other if other < code[edge] else other + 1
    return child


def _evolve(
    space: SearchSpace, start: np.ndarray, budget: int, sample_size: int, rng: np.random.Generator, index: np.ndarray
) -> np.ndarray:
    """Aging evolution from the population ``start`` until ``budget`` cells are
    trained; the accuracies of the trained cells in order."""
    population = deque(int(c) for c in start)
    history = [float(space.accuracy[c]) for c in start]
    weights = len(OPS) ** np.arange(5, -1, -1)
    while len(history) < budget:
        drawn = rng.choice(len(population), sample_size, replace=False)
        members = [population[i] for i in drawn]
        parent = members[int(np.argmax(space.accuracy[members]))]
        child = int(index[int(_mutate(space.codes[parent], rng) @ weights)])
        history.append(float(space.accuracy[child]))
        population.append(child)
        population.popleft()
    return np.asarray(history[:budget])


def aging_evolution(
    space: SearchSpace,
    score: str,
    *,
    pool: int,
    population: int,
    sample_size: int,
    budgets: Iterable[int],
    repeats: int,
    seed: int = 0,
) -> pd.DataFrame:
    """Aging evolution warmed up by ``score`` (see the module docstring); one
    row per budget with the summary of the best accuracy found."""
    if not space.complete:
        raise ValueError(f"aging evolution needs every cell of the space; label {space.label!r} has {len(space)}")
    key, index = space.key(score), _code_index(space)
    steps = [k for k in budgets if k >= 1]
    best = np.empty((repeats, len(steps)))
    for repeat in range(repeats):
        start = _ranked(key, _pool(space, pool, repeat, seed))[:population]
        rng = _rng(seed, "evolution", population, repeat)
        history = _evolve(space, start, max(steps), sample_size, rng, index)
        best[repeat] = np.maximum.accumulate(history)[np.asarray(steps) - 1]
    return pd.DataFrame(
        [{"size": k, "pool": pool, **_summary(best[:, j]), "first_pick": ""} for j, k in enumerate(steps)]
    )


@dataclass(frozen=True)
class SearchSettings:
    """The settings of the stored search study (their hash is the plan id).

    ``naswot_sizes``/``naswot_repeats``: Mellor et al.'s sample sizes and our
    repeats; ``pool``: the warm-up pool on the whole space, ``subset_pool`` on
    the 725-cell subset (about the same few per cent of the cells would be 46;
    100 keeps budgets up to 100 meaningful); ``budgets``: trained cells at
    which the best accuracy is reported; ``ae_*``: aging evolution's
    population, tournament size and repeats (our settings, not a paper's)."""

    naswot_sizes: tuple[int, ...] = (10, 100, 1000)
    naswot_repeats: int = 500
    pool: int = 1000
    subset_pool: int = 100
    budgets: tuple[int, ...] = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200)
    rs_repeats: int = 500
    ae_population: int = 20
    ae_sample_size: int = 5
    ae_repeats: int = 200
    scores: tuple[str, ...] = (*SEARCH_SCORES, *BASELINES)
    seed: int = 0

    def all_runs(self) -> tuple[dict[str, str], ...]:
        """Every run of the study: each protocol on each of its labels, each score."""
        return tuple(
            {"protocol": p, "label": label, "score": s}
            for p, labels in PROTOCOLS.items()
            for label in labels
            for s in self.scores
        )


def search_run(*, protocol: str, label: str, score: str, spec: StudySpec, data_dir: str | None = None) -> pd.DataFrame:
    """One run of the study (its ``run_one``): :func:`search_rows` of ``spec``'s settings and plan."""
    return search_rows(protocol, label, score, spec.design, spec.plan, data_dir)


def search_rows(
    protocol: str, label: str, score: str, settings: SearchSettings, plan: str, data_dir: str | None = None
) -> pd.DataFrame:
    """``protocol`` with ``score`` on ``label``'s space, its stored rows (of ``plan``)."""
    space = load_space(label, Path(data_dir) if data_dir else None)
    s = settings
    if protocol == "naswot":
        rows = naswot_protocol(space, score, s.naswot_sizes, repeats=s.naswot_repeats, seed=s.seed)
    elif protocol == "warmup-rs":
        pool = s.pool if space.complete else s.subset_pool
        rows = warmup_random_search(space, score, pool=pool, budgets=s.budgets, repeats=s.rs_repeats, seed=s.seed)
    elif protocol == "warmup-ae":
        rows = aging_evolution(
            space,
            score,
            pool=s.pool,
            population=s.ae_population,
            sample_size=s.ae_sample_size,
            budgets=s.budgets,
            repeats=s.ae_repeats,
            seed=s.seed,
        )
    else:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
    ident = {"plan": plan, "protocol": protocol, "label": label, "score": score}
    extra = {"best_in_space": float(space.accuracy.max()), "scores_version": space.scores_version, "seed": s.seed}
    return pd.DataFrame([{**ident, **row, **extra} for row in rows.to_dict("records")], columns=list(COLUMNS))


#: how the search's store names a plan: ``nb201-search-`` and 10 hex digits of the settings' hash
PLAN_PREFIX, PLAN_DIGITS = "nb201-search-", 10


def search_study(
    settings: SearchSettings | None = None,
    *,
    path: Path | None = None,
    runs: Iterable[Mapping[str, str]] | None = None,
) -> StudySpec:
    """The search declared as a resumable study (:class:`reuseprior.core.study.StudySpec`): one run per
    protocol, label and score (:meth:`SearchSettings.all_runs`, or ``runs``), each stored as it
    finishes (its ``data_dir`` an option of :func:`reuseprior.core.study_runner.run_study`)."""
    settings = settings or SearchSettings()
    runs = tuple(dict(r) for r in runs) if runs is not None else settings.all_runs()
    return StudySpec(
        name="nb201-search",
        design=settings,
        settings=asdict(settings),
        seeds=(settings.seed,),
        runs=tuple(runs),
        run_one=search_run,
        store=RunStore(
            path or STORED_RUNS,
            key=("protocol", "label", "score"),
            columns=COLUMNS,
            kinds={"runs": COLUMN_KINDS},
            row_key=("size",),
        ),
        plan_prefix=PLAN_PREFIX,
        plan_digits=PLAN_DIGITS,
        live_check=check_stored,
        status_by=("protocol", "label"),
    )


#: the runs :func:`check_stored` recomputes: the NASWOT protocol's (an exact expectation, seconds) for PG
LIVE_RUNS = ({"protocol": "naswot", "score": "PG"},)


def check_stored(spec: StudySpec, request: StudyRequest) -> LiveCheck:
    """The search's live check (the study's ``check``): :func:`recompute_searches` of ``request.checked`` of its
    stored runs (:func:`~reuseprior.core.study.checked_runs`: the first of :data:`LIVE_RUNS`, and a seeded
    sample of the others, those of :data:`LIVE_RUNS` first; every one for ``--all``), recomputed from the
    stored scores (``data_dir`` from the request)."""
    stored = stored_runs(spec)
    live = [r for r in stored if any(r.items() >= run.items() for run in LIVE_RUNS)]
    if not live:
        raise ValueError(f"study {spec.name} has no stored run of {list(LIVE_RUNS)} to check: run it first")
    runs = checked_runs(live + [r for r in stored if r not in live], request.checked)
    table = recompute_searches(spec.rows(), runs, spec.design, request.options.get("data_dir"))
    return LiveCheck(table, "match")


def recompute_searches(
    stored: pd.DataFrame, runs: Iterable[Mapping[str, str]], settings: SearchSettings, data_dir: Path | None = None
) -> pd.DataFrame:
    """Recompute ``runs`` and compare them with the ``stored`` rows of the same plan:
    per row the stored and live mean and SD and whether they are equal (the
    draws are seeded, so a recomputed row is the stored row; the CSV keeps 10
    significant digits (:func:`reuseprior.core.files.write_csv`), so ``match``
    allows :data:`LIVE_TOLERANCE` relative)."""
    plan = search_study(settings).plan
    mine = stored[stored["plan"] == plan]
    out = []
    for run in runs:
        live = search_rows(**run, settings=settings, plan=plan, data_dir=str(data_dir) if data_dir else None)
        for row in live.to_dict("records"):
            same = mine[
                (mine["protocol"] == row["protocol"])
                & (mine["label"] == row["label"])
                & (mine["score"] == row["score"])
                & (mine["size"] == row["size"])
            ]
            ref = same.iloc[0] if len(same) else None
            diff = _largest_difference(row, ref)
            out.append(
                {
                    **{k: row[k] for k in ("protocol", "label", "score", "size")},
                    "stored mean": ref["mean"] if ref is not None else float("nan"),
                    "live mean": row["mean"],
                    "stored sd": ref["sd"] if ref is not None else float("nan"),
                    "live sd": row["sd"],
                    "abs diff": diff,
                    "match": bool(diff <= LIVE_TOLERANCE * max(abs(row["mean"]), 1.0)),
                }
            )
    return pd.DataFrame(out)


def _largest_difference(live: Mapping[str, Any], stored: pd.Series | None) -> float:
    """The larger absolute difference of the mean and of the SD (NaN when nothing is stored)."""
    if stored is None:
        return float("nan")
    sd = 0.0 if np.isnan(live["sd"]) and np.isnan(stored["sd"]) else abs(live["sd"] - stored["sd"])
    return max(abs(live["mean"] - stored["mean"]), sd)
