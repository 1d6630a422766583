"""Demand generators against the reference's statistics, the demand-file reader, and the test sets."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from utils.config import DemandConfig
from utils.data_loader import (
    DemandSet,
    merton_paths,
    merton_paths_and_attempts,
    read_demand_folder,
    sample_demand,
    stationary_paths,
    validation_demand,
    write_demand_folder,
)
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "merton_stats.json").read_text())
N_PATHS = 2000  # enough for ~2 % relative error on the pooled figures, ~0.2 s to draw
K_SE = 5.0  # tolerance in combined standard errors (ours and the golden file's own sampling error)


def _load_generator_script():
    spec = importlib.util.spec_from_file_location("generate_test_data", ROOT / "test_data" / "generate_test_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the script's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------------
# Statistics against the golden file
# ----------------------------------------------------------------------------------------------
def _assert_matches_golden(name: str, ours: float, golden: float, influence: np.ndarray, n_golden: int) -> None:
    """|ours - golden| <= K_SE combined standard errors.

    ``influence`` holds each path's contribution to the statistic (its value for a mean over paths,
    the delta-method term for a std), so its spread over independent paths gives the standard error
    of our figure (over len(influence) paths) and, near enough, of the golden one (over n_golden).
    """
    sd = float(np.std(influence, ddof=1))
    tol = K_SE * sd * np.sqrt(1.0 / influence.size + 1.0 / n_golden)
    assert abs(ours - golden) <= tol, f"{name}: ours {ours:.6g} vs golden {golden:.6g}, tolerance {tol:.3g}"


def _lag1_corr(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of (x_t, x_{t+1}) within each path: (n,)."""
    a, b = x[:, :-1], x[:, 1:]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def _check_pooled_statistics(x: np.ndarray, g: dict, cap: int | None) -> None:
    """Every pooled and per-path statistic of the golden block, with per-path influences."""
    x = x.astype(np.float64)  # (n, length)
    n_golden = g["n_paths"]
    path_mean = x.mean(axis=1)
    m = path_mean.mean()
    _assert_matches_golden("mean", m, g["mean"], path_mean, n_golden)

    pooled_std = np.sqrt((x * x).mean() - m * m)
    std_influence = ((x * x).mean(axis=1) - 2.0 * m * path_mean) / (2.0 * pooled_std)
    _assert_matches_golden("std", pooled_std, g["std"], std_influence, n_golden)

    frac_zero = (x == 0).mean(axis=1)
    _assert_matches_golden("frac_zero", frac_zero.mean(), g["frac_zero"], frac_zero, n_golden)
    if cap is not None:
        frac_cap = (x == cap).mean(axis=1)
        _assert_matches_golden("frac_equal_cap", frac_cap.mean(), g["frac_equal_cap"], frac_cap, n_golden)
        assert x.max() <= cap

    lag1 = _lag1_corr(x)
    assert np.isfinite(lag1).all()  # no constant path (the golden file skipped none either)
    _assert_matches_golden("lag1_autocorr_mean", lag1.mean(), g["lag1_autocorr_mean"], lag1, n_golden)

    spm = path_mean.std()
    _assert_matches_golden("std_of_path_means", spm, g["std_of_path_means"], (path_mean - m) ** 2 / (2 * spm), n_golden)

    within = x.std(axis=1)
    _assert_matches_golden("within_path_std_mean", within.mean(), g["within_path_std_mean"], within, n_golden)

    for t in range(1, 5):
        first = g["first5"][f"t{t}"]
        _assert_matches_golden(f"mean at t{t}", x[:, t].mean(), first["mean"], x[:, t], n_golden)


@pytest.mark.parametrize("key", ["merton_serial", "merton_network"])
def test_merton_statistics_match_reference(key):
    g = GOLDEN[key]
    max_demand = int(g["call"]["max_demand"])
    paths, attempts = merton_paths_and_attempts(np.random.default_rng(2024), N_PATHS, 200, max_demand)
    assert paths.dtype == np.int64 and paths.shape == (N_PATHS, g["path_length"])
    assert (paths[:, 0] == g["base_level"]).all()  # every path starts at exactly max_demand // 2
    assert paths.min() >= 0 and paths.max() == max_demand  # capped, and the cap is reached
    _check_pooled_statistics(paths, g, cap=max_demand)
    _assert_matches_golden(
        "attempts_per_accepted_path", attempts.mean(), g["attempts_per_accepted_path"], attempts.astype(float), g["n_paths"]
    )
    assert attempts.min() == 1 and attempts.max() > 1  # rejection happens, and not for every path


def test_stationary_statistics_match_reference():
    g = GOLDEN["stationary"]
    paths = stationary_paths(np.random.default_rng(2024), N_PATHS, 200, mean=g["poisson_mean"])
    assert paths.dtype == np.int64 and paths.shape == (N_PATHS, g["path_length"])
    _check_pooled_statistics(paths, g, cap=None)
    assert paths.max() > 20  # no clipping: Poisson(10) exceeds 20 about once in 2000 values


@pytest.mark.parametrize("key, seed", [("seed3_serial", 3), ("seed0_network", 0)])
def test_merton_replays_reference_stream_exactly(key, seed):
    # The reference drew its paths from numpy's legacy global state in the documented per-step order;
    # driving our generator with the same legacy stream must give the very same integers.
    max_demand = 20 if "serial" in key else 4
    expected = np.array(GOLDEN["example_paths_legacy_numpy"][key], dtype=np.int64)
    ours = merton_paths(np.random.RandomState(seed), 1, 200, max_demand)
    np.testing.assert_array_equal(ours[0], expected)


class _ScriptedRng:
    """Stand-in for a Generator: no jumps, and the diffusion normal is a fixed z per path and round."""

    def __init__(self, rounds: list[list[float]], length: int):
        self.rounds, self.length, self.calls = rounds, length, 0

    def normal(self, loc, scale, size):
        if scale != 1.0:  # the jump normal: irrelevant, N is 0
            return np.full(size, loc)
        z = np.asarray(self.rounds[self.calls // self.length], dtype=np.float64)
        assert z.size == size  # only the rejected paths are redrawn
        self.calls += 1
        return z.copy()

    def poisson(self, lam, size):
        return np.zeros(size, dtype=np.int64)


def test_merton_rejects_on_unclipped_mean_and_redraws_only_rejected_paths():
    length = 200
    # round 1: path 0 flat (accepted); path 1 climbs to ~exp(7.7)*10, unclipped mean >> 20 although
    # its clipped mean is below 20, so the rule must reject it; round 2 redraws path 1 alone, falling.
    rng = _ScriptedRng([[0.0, 1.0], [-0.5]], length)
    paths, attempts = merton_paths_and_attempts(rng, 2, length, 20)
    np.testing.assert_array_equal(attempts, [1, 2])
    np.testing.assert_array_equal(paths[0], np.full(length + 1, 10))
    log_level = np.concatenate([[0.0], np.cumsum(np.full(length, 0.01 * np.sqrt(15.0) * -0.5))])
    np.testing.assert_array_equal(paths[1], np.floor(10 * np.exp(log_level)).astype(np.int64))
    assert paths[1, 0] == 10 and paths[1, -1] == 0


def test_merton_accepted_paths_keep_mean_inside_bounds_under_heavy_rejection():
    # a wild walk (large scale) around a start of 1: many rejections, some exp() overflows
    paths, attempts = merton_paths_and_attempts(np.random.default_rng(5), 300, 100, 2, scale=0.2)
    means = paths.mean(axis=1)
    assert ((means > 0) & (means < 2)).all() and paths.min() >= 0 and paths.max() <= 2
    assert attempts.mean() > 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exp() overflows to inf here; that path is rejected, silently
        huge = merton_paths(np.random.default_rng(6), 200, 50, 20, scale=10.0)
    assert ((huge.mean(axis=1) > 0) & (huge.mean(axis=1) < 20)).all() and huge.max() <= 20


def test_merton_rejects_max_demand_below_two():
    with pytest.raises(UserError, match="max_demand"):
        merton_paths(np.random.default_rng(0), 3, 10, 1)


# ----------------------------------------------------------------------------------------------
# Seeds, shapes and the config-driven entry points
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["merton", "stationary"])
def test_same_seed_same_demand_different_seed_different_demand(kind):
    cfg = DemandConfig(kind=kind)
    a = sample_demand(cfg, np.random.default_rng(7), 16, 50, 2)
    b = sample_demand(cfg, np.random.default_rng(7), 16, 50, 2)
    c = sample_demand(cfg, np.random.default_rng(8), 16, 50, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_demand_layout_matches_generator_paths():
    cfg = DemandConfig(kind="merton", max_demand=4)
    demand = sample_demand(cfg, np.random.default_rng(11), 5, 30, 2)  # (5, 30, 2)
    assert demand.shape == (5, 30, 2) and demand.dtype == np.int64
    flat = merton_paths(np.random.default_rng(11), 10, 30, 4)  # (10, 31)
    for i in range(5):
        for s in range(2):  # path i * n_streams + s, first `length` values
            np.testing.assert_array_equal(demand[i, :, s], flat[2 * i + s, :30])
    assert (demand[:, 0, :] == 2).all()  # period 0 faces the start level
    assert not np.array_equal(demand[:, :, 0], demand[:, :, 1])  # streams are independent paths

    stat = sample_demand(DemandConfig(kind="stationary", stationary_mean=3.0), np.random.default_rng(1), 4, 25, 3)
    np.testing.assert_array_equal(
        stat, stationary_paths(np.random.default_rng(1), 12, 25, 3.0).reshape(4, 3, 25).transpose(0, 2, 1)
    )


def test_validation_demand_is_seeded_from_config_and_ignores_test_files():
    cfg = DemandConfig(validation_seed=123, validation_episodes=6, test_dir="/nonexistent/folder")
    v = validation_demand(cfg, 40, n_streams=2)
    assert v.shape == (6, 40, 2)
    np.testing.assert_array_equal(v, sample_demand(cfg, np.random.default_rng(123), 6, 40, 2))
    np.testing.assert_array_equal(v, validation_demand(cfg, 40, n_streams=2))
    other = validation_demand(DemandConfig(validation_seed=124, validation_episodes=6), 40, n_streams=2)
    assert not np.array_equal(v, other)


# ----------------------------------------------------------------------------------------------
# Reading and writing demand folders
# ----------------------------------------------------------------------------------------------
def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_reader_uses_natural_order_and_tolerates_trailing_blank_lines(tmp_path):
    for name, value in [("d10", 10), ("d2", 2), ("d1", 1)]:
        _write(tmp_path / name, f"{value}\n{value + 1}\n\n  \n")
    _write(tmp_path / ".gitkeep", "")  # hidden files are not demand files
    ds = read_demand_folder(tmp_path)
    assert isinstance(ds, DemandSet) and ds.names == ["d1", "d2", "d10"]
    assert ds.demand.dtype == np.int64 and ds.demand.shape == (3, 2, 1) and ds.n_streams == 1
    np.testing.assert_array_equal(ds.demand[:, :, 0], [[1, 2], [2, 3], [10, 11]])


def test_reader_accepts_integral_decimals_written_by_the_reference(tmp_path):
    _write(tmp_path / "a.txt", "2.0\n 3 \n0\n")
    np.testing.assert_array_equal(read_demand_folder(tmp_path).demand[0, :, 0], [2, 3, 0])


def test_reader_network_layout(tmp_path):
    for s, offset in [("stream_10", 100), ("stream_2", 20), ("stream_1", 10)]:  # natural order of streams too
        for f in ("e2.txt", "e11.txt"):
            _write(tmp_path / s / f, "\n".join(str(offset + int(f[1:-4]) + t) for t in range(3)) + "\n")
    ds = read_demand_folder(tmp_path)
    assert ds.names == ["e2.txt", "e11.txt"] and ds.demand.shape == (2, 3, 3) and ds.n_streams == 3
    np.testing.assert_array_equal(ds.demand[1, :, 0], [21, 22, 23])  # stream_1, e11
    np.testing.assert_array_equal(ds.demand[0, :, 2], [102, 103, 104])  # stream_10, e2


def test_write_then_read_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    serial = rng.integers(0, 30, size=(12, 7))  # (n_files, T)
    write_demand_folder(tmp_path / "s", serial)
    ds = read_demand_folder(tmp_path / "s")
    np.testing.assert_array_equal(ds.demand[:, :, 0], serial)
    assert ds.names == [f"demand_{i}.txt" for i in range(12)]

    network = rng.integers(0, 5, size=(4, 6, 2))  # (n_files, T, n_streams)
    write_demand_folder(tmp_path / "n", network, names=["x1", "x2", "x10", "x20"])
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["stream_0", "stream_1"]
    ds = read_demand_folder(tmp_path / "n")
    np.testing.assert_array_equal(ds.demand, network)
    assert ds.names == ["x1", "x2", "x10", "x20"]

    write_demand_folder(tmp_path / "n", network + 1, names=["x1", "x2", "x10", "x20"])  # rewriting is fine
    np.testing.assert_array_equal(read_demand_folder(tmp_path / "n").demand, network + 1)
    _write(tmp_path / "s" / "stray.txt", "1\n")
    with pytest.raises(UserError, match="stray.txt"):
        write_demand_folder(tmp_path / "s", serial)


def _error_of(path) -> str:
    with pytest.raises(UserError) as info:
        read_demand_folder(path)
    message = str(info.value)
    assert "\n" not in message  # one line for the user
    return message


def test_reader_errors_name_the_file_and_line(tmp_path):
    assert "not found" in _error_of(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "empty" in _error_of(tmp_path / "empty")

    _write(tmp_path / "bad" / "d1", "1\n2\n")
    _write(tmp_path / "bad" / "d2", "1\n2\nx3\n4\n")
    msg = _error_of(tmp_path / "bad")
    assert "d2" in msg and "line 3" in msg and "'x3'" in msg

    _write(tmp_path / "frac" / "d1", "1\n2.5\n")
    msg = _error_of(tmp_path / "frac")
    assert "d1" in msg and "line 2" in msg

    _write(tmp_path / "blank" / "d1", "1\n\n2\n")
    assert "line 2" in _error_of(tmp_path / "blank")

    _write(tmp_path / "neg" / "d7", "1\n2\n3\n-4\n")
    msg = _error_of(tmp_path / "neg")
    assert "d7" in msg and "line 4" in msg and "negative" in msg

    _write(tmp_path / "len" / "d1", "1\n2\n3\n")
    _write(tmp_path / "len" / "d2", "1\n2\n")
    msg = _error_of(tmp_path / "len")
    assert "d2" in msg and "2 periods" in msg and "3" in msg

    _write(tmp_path / "nothing" / "d1", "\n\n")
    assert "d1" in _error_of(tmp_path / "nothing")

    _write(tmp_path / "names" / "stream_0" / "d1", "1\n")
    _write(tmp_path / "names" / "stream_0" / "d2", "1\n")
    _write(tmp_path / "names" / "stream_1" / "d1", "1\n")
    _write(tmp_path / "names" / "stream_1" / "d3", "1\n")
    msg = _error_of(tmp_path / "names")
    assert "stream_1" in msg and "d2" in msg

    _write(tmp_path / "netlen" / "stream_0" / "d1", "1\n2\n")
    _write(tmp_path / "netlen" / "stream_1" / "d1", "1\n")
    assert "stream_1" in _error_of(tmp_path / "netlen")

    _write(tmp_path / "mixed" / "stream_0" / "d1", "1\n")
    _write(tmp_path / "mixed" / "d1", "1\n")
    assert "mixes" in _error_of(tmp_path / "mixed")

    _write(tmp_path / "afile", "1\n")
    assert "not a folder" in _error_of(tmp_path / "afile")


# ----------------------------------------------------------------------------------------------
# The committed test sets
# ----------------------------------------------------------------------------------------------
def test_committed_test_sets_are_reproduced_exactly():
    script = _load_generator_script()
    specs = {s.name: s for s in script.load_test_set_specs()}
    expected = {
        "merton_serial": ("test_demand_merton", (50, 200, 1), 20),
        "stationary_serial": ("test_demand_stationary", (50, 200, 1), None),
        "merton_network": ("test_demand_network", (50, 200, 2), 4),
    }
    assert set(specs) == set(expected)
    for name, (folder, shape, cap) in expected.items():
        spec = specs[name]
        assert Path(spec.folder) == ROOT / "test_data" / folder
        stored = read_demand_folder(spec.folder)
        assert stored.demand.shape == shape and len(stored.names) == 50
        np.testing.assert_array_equal(stored.demand, script.generate_test_set(spec))
        if cap is not None:  # Merton sets: start level and cap of the documented call
            assert (stored.demand[:, 0, :] == cap // 2).all() and stored.demand.max() <= cap
    assert sorted(p.name for p in (ROOT / "test_data" / "test_demand_network").iterdir()) == ["stream_0", "stream_1"]


def test_generator_script_check_and_bad_config_exit_codes(tmp_path):
    script = ROOT / "test_data" / "generate_test_data.py"
    ok = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("matches") == 3

    bad = tmp_path / "bad.yaml"
    bad.write_text("test_sets:\n  - name: x\n    folder: x\n    seed: 1\n    n_files: 2\n    periods: 3\n"
                   "    n_streams: 1\n    demand: {kind: merton, max_demand: 20, colour: red}\n")
    out = subprocess.run([sys.executable, str(script), "--config", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "colour" in out.stderr and out.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()
