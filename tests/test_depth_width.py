"""Depth vs. width (thesis section 5.2, Tables 5.1-5.4, Figures 5.1/5.2).

An independent reference computes the counts of the constant-width MLP/CNN
chains in closed form (MLP: the weight ``j`` layers from the output has
``width**j`` contexts) or by a per-layer box-filter recursion (CNN), in the
log domain. It pins down the semantics of each table (NI, NO, BN counting,
what "Shared" ties) against the printed digits for *every* row, and the
counting engine is checked against it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from reuseprior.chapters import ch5_depth_width as dw
from reuseprior.commands import main
from reuseprior.reporting.reference import load_thesis_table, side_by_side


# ----------------------------------------------------------------------------- reference
def _quantities(log2_counts: np.ndarray, ni: int, no: int, wg: int) -> dict[str, float]:
    l = np.asarray(log2_counts, float)
    ng = l.size
    lnc = float(np.logaddexp2.reduce(l))
    p = np.exp2(l - lnc)
    es = float(np.sum(p * l))
    s = ng * lnc - float(l.sum())
    g = ni + no + wg
    pg = float(np.log2(s * ni / g))
    return {
        "PG": pg,
        "P'G": float(np.log2((es + 1) * ng * ni / g)),
        "PEG": pg / ng,
        "CEG": pg / wg,
        "ES": es,
        "H": lnc - es,
        "NG": ng,
        "WG": wg,
        "Params": ng,
    }


def _merge(groups: dict, flat: list) -> np.ndarray:
    for arrays in groups.values():
        flat.append(np.logaddexp2.reduce(np.stack(arrays), axis=0))
    return np.concatenate(flat)


def reference_mlp(width, depth, num_inputs=None, batch_norm=False, shared=False, no=1):
    ni = width if num_inputs is None else num_inputs
    flat, groups, wg = [], {}, 0
    for layer in range(depth):
        fan_in = ni if layer == 0 else width
        log_c = (depth - 1 - layer) * np.log2(width)  # every output unit of this layer
        elems = np.full(fan_in * width, log_c)
        wg += elems.size
        if shared and fan_in == width:
            groups.setdefault("tied", []).append(elems)
        else:
            flat.append(elems)
        if batch_norm:
            flat.append(np.full(4 * width, log_c))
            wg += 4 * width
    return _quantities(_merge(groups, flat), ni, no, wg)


def reference_cnn(channels, depth, in_channels=None, size=8, k=3, batch_norm=False, shared=False, no=1):
    ic = channels if in_channels is None else in_channels
    cur, scale = np.ones((size, size)), 0.0  # count of every output channel (all equal), log2 scale
    flat, groups, wg = [], {}, 0
    r = k // 2
    for layer in reversed(range(depth)):
        fan_in = ic if layer == 0 else channels
        taps = np.empty((k, k))
        for ky in range(k):
            for kx in range(k):
                dy, dx = ky - r, kx - r  # output p reads input p + d: valid when inside
                taps[ky, kx] = cur[max(0, -dy) : size - max(0, dy), max(0, -dx) : size - max(0, dx)].sum()
        elems = np.tile(np.log2(taps).ravel() + scale, channels * fan_in)
        wg += elems.size
        if shared:
            groups.setdefault((k, fan_in, channels), []).append(elems)
        else:
            flat.append(elems)
        if batch_norm:
            flat.append(np.full(4 * channels, np.log2(cur.sum()) + scale))
            wg += 4 * channels
        padded = np.pad(cur, r)
        nxt = channels * sum(padded[ky : ky + size, kx : kx + size] for ky in range(k) for kx in range(k))
        top = nxt.max()
        cur, scale = nxt / top, scale + np.log2(top)
    return _quantities(_merge(groups, flat), ic * size * size, no, wg)


def reference_row(config: dw.DepthWidthConfig) -> dict[str, float]:
    if config.family == "mlp":
        return reference_mlp(config.width, config.depth, config.num_inputs, config.batch_norm, config.shared)
    return reference_cnn(
        config.width,
        config.depth,
        config.num_inputs,
        config.image_size,
        config.kernel_size,
        config.batch_norm,
        config.shared,
    )


def _reference_table(name: str) -> pd.DataFrame:
    rows = []
    for c in dw.table_configs(name):
        key = "Width" if c.family == "mlp" else "Channels"
        rows.append({key: c.width, "Depth": c.depth, "Shared": c.shared, **reference_row(c)})
    return pd.DataFrame(rows)


def _columns(name: str) -> list[str]:
    return ["Params", "PG", "P'G", "PEG"] + (["CEG"] if name in ("table_5_2", "table_5_4") else [])


# ----------------------------------------------------------------------------- semantics
@pytest.mark.parametrize("name", sorted(dw.TABLES))
def test_reference_semantics_reproduce_every_printed_row(name):
    """NI, NO = 1, BN at 4/channel and the sharing rule explain all printed digits."""
    cmp = side_by_side(_reference_table(name), name, on=dw.TABLE_KEYS[name], columns=_columns(name))
    verdicts = cmp[[c for c in cmp.columns if c.endswith(" match")]]
    assert verdicts.isin(["rounded", "truncated"]).all().all(), cmp.to_string()
    assert len(cmp) == len(load_thesis_table(name))


def test_table_5_3_caption_ni_would_not_reproduce():
    """With NI = channels (the caption) instead of channels*8*8 the first row is far off."""
    ref = reference_cnn(120, 1)
    caption_pg = ref["PG"] - np.log2(120 * 64 / (120 * 64 + 1 + 129600)) + np.log2(120 / (120 + 1 + 129600))
    printed = load_thesis_table("table_5_3").set_index(["Channels", "Depth"]).loc[(120, 1), "PG"]
    assert abs(ref["PG"] - printed) < 0.005 and abs(caption_pg - printed) > 1


# ----------------------------------------------------------------------------- engine
ENGINE_CASES = [
    dw.DepthWidthConfig("mlp", 6, 5),
    dw.DepthWidthConfig("mlp", 5, 7, num_inputs=3, batch_norm=True),
    dw.DepthWidthConfig("mlp", 3, 12, num_inputs=3, batch_norm=True, shared=True),
    dw.DepthWidthConfig("mlp", 4, 9, num_inputs=3, batch_norm=True, shared=True),
    dw.DepthWidthConfig("cnn", 4, 5),
    dw.DepthWidthConfig("cnn", 3, 6, num_inputs=3, batch_norm=True, shared=True),
    dw.DepthWidthConfig("cnn", 5, 4, num_inputs=3, batch_norm=True, shared=True),
    dw.DepthWidthConfig("cnn", 2, 4, image_size=5, kernel_size=5),
]


@pytest.mark.parametrize("config", ENGINE_CASES, ids=lambda c: f"{c.family}-w{c.width}-d{c.depth}-s{c.shared}")
def test_engine_matches_reference(config):
    ours = dw.analyze_config(config)
    ref = reference_row(config)
    assert ours["NG"] == ref["NG"] and ours["WG"] == ref["WG"] and ours["NO"] == 1
    for col in ("PG", "P'G", "ES", "H"):
        assert ours[col] == pytest.approx(ref[col], rel=1e-10, abs=1e-10), col


@pytest.mark.parametrize("name", sorted(dw.TABLES))
def test_engine_reproduces_shallow_table_rows(name):
    max_depth = {"table_5_1": 36, "table_5_2": 64, "table_5_3": 25, "table_5_4": 36}[name]
    ours = dw.run_table(name, max_depth=max_depth, progress=False)
    assert len(ours) >= 2
    cmp = side_by_side(ours, name, on=dw.TABLE_KEYS[name], columns=_columns(name))
    cmp = cmp[cmp["Depth"] <= max_depth]
    verdicts = cmp[[c for c in cmp.columns if c.endswith(" match")]]
    assert verdicts.isin(["rounded", "truncated"]).all().all(), cmp.to_string()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(dw.TABLES))
def test_engine_reproduces_full_tables(name):
    ours = dw.run_table(name, progress=False)
    cmp = side_by_side(ours, name, on=dw.TABLE_KEYS[name], columns=_columns(name))
    verdicts = cmp[[c for c in cmp.columns if c.endswith(" match")]]
    assert verdicts.isin(["rounded", "truncated"]).all().all(), cmp.to_string()


@pytest.mark.parametrize("name", sorted(dw.TABLES))
def test_stored_full_run_covers_every_row_and_agrees_with_reference(name):
    """The deep rows the quick notebook reads from data/computed/ are genuine engine output."""
    stored = dw.load_stored_run(name)
    key = dw.TABLE_KEYS[name][0]
    assert len(stored) == len(dw.TABLES[name])
    for config in dw.TABLES[name]:
        row = stored[
            (stored[key] == config.width) & (stored["Depth"] == config.depth) & (stored["Shared"] == config.shared)
        ]
        assert len(row) == 1
        ref = reference_row(config)
        for col in ("PG", "P'G", "ES", "NG", "WG"):
            assert row.iloc[0][col] == pytest.approx(ref[col], rel=1e-9), (config, col)


def test_table_with_stored_rows_marks_sources():
    df = dw.table_with_stored_rows("table_5_1", max_depth=4, progress=False)
    assert len(df) == len(dw.TABLES["table_5_1"])
    assert set(df.loc[df["Depth"] <= 4, "source"]) == {"computed now"}
    assert df.loc[df["Depth"] > 4, "source"].str.startswith("stored full run").all()
    cmp = dw.compare_table(df, "table_5_1")
    assert list(cmp["Depth"]) == [c.depth for c in dw.TABLES["table_5_1"]]  # printed order
    assert dw.match_summary(cmp).loc["rounded"].min() == len(df)


# ----------------------------------------------------------------------------- grid, profiles
def _grid_layer_mean(width: int, depth: int, num_inputs: int = 3) -> Fraction:
    """E[l] of the Figure 5.1 MLP, exactly: the mean layer index (0 = the input layer) under the
    context distribution p. Layer ``l`` has ``width**(depth - 1 - l)`` contexts on each of its
    ``num_inputs * width`` (l = 0) or ``width**2`` weights, so, divided by ``width**(depth - 1)``,
    its mass is ``num_inputs * width`` (l = 0) or ``width**(2 - l)``; then
    ``ES = sum_l p_l log2 c_l = log2(width) * (depth - 1 - E[l])``."""
    mass = [Fraction(num_inputs * width)] + [Fraction(width) ** (2 - l) for l in range(1, depth)]
    return sum(l * m for l, m in enumerate(mass)) / sum(mass)


def _layer_mean_tail(width: int, depth: int) -> float:
    """Bound on ``E_inf[l] - E_depth[l]`` (>= 0: the deeper layers have l >= depth > E_depth[l]):
    at most the tail ``sum_{l >= depth} l width**(2 - l) <= (2 depth + 2) width**(2 - depth)``
    over the total mass ``>= 3 width``."""
    return (2 * depth + 2) * width ** (1 - depth) / 3


def test_grid_spread_grows_linearly_with_depth_and_logarithmically_with_width():
    df = dw.run_grid([5, 10, 20], [2, 4, 16], progress=False)
    assert len(df) == 9 and set(df["NI"]) == {3} and set(df["NO"]) == {1}
    es = dw.grid_pivot(df, "ES")
    # the engine's ES is the closed form at every grid point (float64 log-domain sums: measured 3e-15)
    for depth in (5, 10, 20):
        for w in (2, 4, 16):
            closed = np.log2(w) * float(depth - 1 - _grid_layer_mean(w, depth))
            assert es.loc[depth, w] == pytest.approx(closed, rel=1e-12), (depth, w)
    # Figure 5.1: ES ~ (depth - 1) log2(width) - log2(width) E_inf[l] for deep models (eq. 5.15, in
    # bits), with E_inf[l] = w^2 / ((w - 1)(4w - 3)) for 3 inputs (the geometric series of
    # _grid_layer_mean); at finite depth E[l] falls short of it by at most _layer_mean_tail
    for w in (4, 16):
        slope = (es.loc[20, w] - es.loc[10, w]) / 10
        tail = np.log2(w) * _layer_mean_tail(w, 10) / 10  # 5.6e-6 for w = 4 (measured 2.3e-6)
        assert abs(slope - np.log2(w)) <= tail + 1e-12, (w, slope)  # + float64 rounding of the ES values
    e_inf = {w: w**2 / ((w - 1) * (4 * w - 3)) for w in (4, 16)}
    gap = 19 * (np.log2(16) - np.log2(4)) - (np.log2(16) * e_inf[16] - np.log2(4) * e_inf[4])  # 37.7014
    tail = np.log2(16) * _layer_mean_tail(16, 20) + np.log2(4) * _layer_mean_tail(4, 20)
    assert es.loc[20, 16] - es.loc[20, 4] == pytest.approx(gap, abs=tail + 1e-12)
    pg = dw.grid_pivot(df, "PG")
    assert pg.stack().idxmax() == (20, 16)  # Figure 5.2: the deepest and widest is on top


def test_profiles_are_consistent():
    assert set(dw.PROFILES) == {"quick", "full"}
    for settings in dw.PROFILES.values():
        assert set(settings) == {"max_depth", "grid_depths", "grid_widths"}
    assert dw.PROFILES["full"]["max_depth"] is None
    assert max(dw.PROFILES["full"]["grid_depths"]) == 40 and max(dw.PROFILES["full"]["grid_widths"]) == 40
    quick = dw.PROFILES["quick"]
    assert all(len(dw.table_configs(n, quick["max_depth"])) >= 2 for n in dw.TABLES)


def test_unknown_table_is_a_clear_error():
    with pytest.raises(KeyError, match="known"):
        dw.table_configs("table_9_9")


def test_max_depth_that_leaves_no_row_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="shallowest row has depth 36"):
        dw.table_configs("table_5_2", max_depth=1)
    with pytest.raises(SystemExit) as exited:
        main(["depth-width", "--table", "table_5_2", "--max-depth", "1"])
    assert exited.value.code == 2 and "raise --max-depth or leave out --table table_5_2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # argparse: not a positive integer
        main(["depth-width", "--max-depth", "-3"])
    assert exited.value.code == 2 and "must be an integer >= 1" in capsys.readouterr().err


def test_split_measurements_keeps_wall_time_out_of_tracked_tables():
    """Tracked tables hold what a rerun reproduces; the analysis wall time
    (``seconds``) goes to the measurement with the row keys."""
    df = dw.table_with_stored_rows("table_5_1", max_depth=4, progress=False)
    assert "seconds" in df.columns
    tracked, measured = dw.split_measurements(df)
    assert not set(dw.MEASURED_COLUMNS) & set(tracked.columns)
    assert list(measured.columns) == ["Width", "Depth", "Shared", "source", "seconds"]
    assert len(measured) == len(tracked) == len(df)
    pd.testing.assert_frame_equal(tracked, df.drop(columns="seconds"))
    grid, grid_seconds = dw.split_measurements(dw.run_grid([1, 2], [2], progress=False))
    assert "seconds" not in grid.columns and list(grid_seconds.columns) == ["Width", "Depth", "Shared", "seconds"]
