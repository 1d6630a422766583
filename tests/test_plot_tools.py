"""Plots: each returns a Figure with the labels a reader needs, titles name policy, config and data; importing the
module leaves matplotlib's backend alone; bad metrics files are one-line errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from utils import plot_tools
from utils.errors import UserError

NAMES = ["retailer", "stage_1", "stage_2"]


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def saved_png_has_content(fig: Figure, path: Path) -> bool:
    plot_tools.save_figure(fig, path)
    image = mpimg.imread(path)
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.shape[0] > 100 and image.std() > 0


def test_importing_the_module_keeps_the_backend_and_figures_stay_out_of_pyplot():
    code = (
        "import matplotlib; matplotlib.use('svg'); import numpy as np; from utils import plot_tools; import matplotlib.pyplot as plt;"
        "fig = plot_tools.plot_cost_bars(['a'], np.array([1.0]), np.array([0.1]), config='c', data='d');"
        "print(matplotlib.get_backend(), len(plt.get_fignums()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["svg", "0"]


def test_figures_show_as_png_in_a_notebook_without_pyplot():
    fig = plot_tools.plot_cost_bars(["a", "b"], np.array([3.0, 4.0]), np.array([0.5, 0.5]), config="c", data="d")
    png = fig._repr_png_()  # what IPython displays for a returned figure
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_trajectories(tmp_path):
    T, N = 50, 3
    rng = np.random.default_rng(0)
    fig = plot_tools.plot_trajectories(
        rng.integers(0, 20, (T, N)), rng.integers(0, 5, (T, N)), rng.integers(0, 20, (T, N)), rng.poisson(10, T), NAMES,
        policy="echelon_base_stock", config="configs/train_serial.yaml", data="test_demand_merton, file demand_0.txt",
    )
    assert isinstance(fig, Figure) and saved_png_has_content(fig, tmp_path / "traj.png")
    found = texts(fig)
    title = plot_tools.plot_title("echelon_base_stock: stock, backlog and orders over one episode", "configs/train_serial.yaml",
                                  "test_demand_merton, file demand_0.txt")
    for needle in [title, "period", "on-hand", "orders", "customer demand", "retailer\nunits"]:
        assert needle in found, needle


def test_bullwhip_plots_ratios_on_a_linear_axis_from_zero(tmp_path):
    # order variances 10.3, 10.5, 10.8 against demand variance 10: ratios 1.03, 1.05, 1.08 must look like that
    fig = plot_tools.plot_bullwhip({"pout": np.array([10.3, 10.5, 10.8]), "base stock": np.array([12.0, 20.0, 40.0])}, 10.0, NAMES,
                                   config="configs/train_serial.yaml", data="test_demand_merton (50 files)")
    assert saved_png_has_content(fig, tmp_path / "bw.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0 and ax.get_ylim()[1] == pytest.approx(1.18 * 4.0)
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert heights == [1.03, 1.05, 1.08, 1.2, 2.0, 4.0]
    found = texts(fig)
    for needle in ["1.03", "1.05", "4.00", "Var(orders) / Var(customer demand)", "pout", "base stock", "stage_2"]:
        assert needle in found, needle
    assert any("config: configs/train_serial.yaml" in t and "data: test_demand_merton (50 files)" in t for t in found)
    # ratios a factor 1000 apart: a logarithmic axis with plain numbers
    wide = plot_tools.plot_bullwhip({"a": np.array([1.0, 100.0, 1000.0])}, 1.0, NAMES, config="c", data="d")
    assert wide.axes[0].get_yscale() == "log"
    assert plot_tools.bullwhip_ratios(np.array([2.0, 4.0]), 2.0).tolist() == [1.0, 2.0]
    assert np.isnan(plot_tools.bullwhip_ratios(np.array([2.0]), 0.0)).all()


def test_cost_bars(tmp_path):
    fig = plot_tools.plot_cost_bars(["a", "b"], np.array([100.0, 80]), np.array([5.0, 4]), config="cfg.yaml", data="folder", bound=30.0)
    assert saved_png_has_content(fig, tmp_path / "c.png")
    found = texts(fig)
    assert "clairvoyant lower bound (30)" in found and "cost per episode (cost units)" in found and "100" in found
    assert plot_tools.plot_title("Cost per episode by policy", "cfg.yaml", "folder") in found


def test_training_curves_from_metrics_csv(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("iteration,env_steps,train_cost,eval_cost\n1,100,50.0,\n2,200,40.0,42.0\n3,300,35.0,\n")
    assert plot_tools.read_metrics_csv(csv)["eval_cost"][1] == 42.0
    assert np.isnan(plot_tools.read_metrics_csv(csv)["eval_cost"][0])
    fig = plot_tools.plot_training_curves(csv, policy="serial (happo)", config="run/config.yaml", data="validation: 20 paths")
    assert saved_png_has_content(fig, tmp_path / "tc.png")
    assert "validation (greedy)" in texts(fig)
    assert plot_tools.plot_title("serial (happo): cost during training", "run/config.yaml", "validation: 20 paths") in texts(fig)
    with pytest.raises(UserError, match="not found"):
        plot_tools.plot_training_curves(tmp_path / "missing.csv", policy="p", config="c", data="d")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="no 'env_steps' column"):
        plot_tools.plot_training_curves(bad, policy="p", config="c", data="d")


def test_adaptation_curves(tmp_path):
    curves = {"random init": np.array([[10.0, 8.0], [12.0, 9.0]]), "maml": np.array([[7.0, 6.0], [7.0, 6.0]])}
    fig = plot_tools.plot_adaptation_curves(curves, [0, 5], subject="Adaptation: maml", config="meta_maml", data="12 tasks")
    assert saved_png_has_content(fig, tmp_path / "ad.png")
    line = fig.axes[0].get_lines()[0]
    assert line.get_xdata().tolist() == [0, 5] and line.get_ydata().tolist() == [11.0, 8.5]  # mean over the task rows
    assert plot_tools.plot_title("Adaptation: maml", "meta_maml", "12 tasks") in texts(fig) and "maml" in texts(fig)


def test_adaptation_curves_draw_reference_lines_dashed_and_keep_colours_distinct():
    curves = {f"m{k}": np.array([[10.0 + k, 8.0], [12.0, 9.0 + k]]) for k in range(10)}
    curves["tuned rule"] = np.array([[3.0, 3.0], [5.0, 5.0]])  # the same cost at every update count: a reference
    ax = plot_tools.plot_adaptation_curves(curves, [0, 5], subject="s", config="c", data="d").axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["tuned rule"].get_linestyle() == "--" and lines["m0"].get_linestyle() == "-"
    assert lines["tuned rule"].get_ydata().tolist() == [4.0, 4.0]
    assert len(ax.collections) == 10  # a band for every adapting method, none for the reference
    assert len({tuple(line.get_color()) if not isinstance(line.get_color(), str) else line.get_color() for line in lines.values()}) == 11
