"""Plots: each writes a PNG with the labels a reader needs; bad metrics files are one-line errors."""
from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import plot_tools
from utils.errors import UserError


@pytest.fixture
def captured(monkeypatch):
    """Record every figure's texts just before it is saved (the PNG itself cannot be read back as text)."""
    texts: list[list[str]] = []
    save = plot_tools._save

    def spy(fig, path):
        found = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
        texts.append([t for t in found if t])
        return save(fig, path)

    monkeypatch.setattr(plot_tools, "_save", spy)
    return texts


def is_png_with_content(path: Path) -> bool:
    image = mpimg.imread(path)
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.shape[0] > 100 and image.std() > 0


def test_trajectories(tmp_path, captured):
    T, N = 50, 3
    rng = np.random.default_rng(0)
    path = plot_tools.plot_trajectories(
        rng.integers(0, 20, (T, N)), rng.integers(0, 5, (T, N)), rng.integers(0, 20, (T, N)), rng.poisson(10, T),
        ["retailer", "stage_1", "stage_2"], tmp_path / "traj.png", "echelon base-stock, episode 0",
    )
    assert is_png_with_content(path)
    texts = captured[0]
    for needle in ["echelon base-stock, episode 0", "period", "on-hand", "orders", "customer demand", "retailer\nunits"]:
        assert needle in texts, needle


def test_bullwhip_and_cost_bars(tmp_path, captured):
    names = ["retailer", "stage_1", "stage_2"]
    p1 = plot_tools.plot_bullwhip({"a": np.array([10.0, 20, 40]), "b": np.array([9.0, 9, 9])}, 9.0, names, tmp_path / "bw.png", "bullwhip")
    p2 = plot_tools.plot_cost_bars(["a", "b"], np.array([100.0, 80]), np.array([5.0, 4]), tmp_path / "c.png", "costs", bound=30.0)
    assert is_png_with_content(p1) and is_png_with_content(p2)
    assert "variance of orders (units$^2$)" in captured[0] and "customer demand" in captured[0]
    assert "clairvoyant lower bound" in captured[1] and "cost per episode (cost units)" in captured[1]


def test_training_curves_from_metrics_csv(tmp_path, captured):
    csv = tmp_path / "metrics.csv"
    csv.write_text("iteration,env_steps,train_cost,eval_cost\n1,100,50.0,\n2,200,40.0,42.0\n3,300,35.0,\n")
    assert plot_tools.read_metrics_csv(csv)["eval_cost"][1] == 42.0
    assert np.isnan(plot_tools.read_metrics_csv(csv)["eval_cost"][0])
    assert is_png_with_content(plot_tools.plot_training_curves(csv, tmp_path / "tc.png", "run"))
    assert "validation (greedy)" in captured[0]
    with pytest.raises(UserError, match="not found"):
        plot_tools.plot_training_curves(tmp_path / "missing.csv", tmp_path / "x.png", "run")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="no 'env_steps' column"):
        plot_tools.plot_training_curves(bad, tmp_path / "x.png", "run")
    plt.close("all")
