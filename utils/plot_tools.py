"""Figures a reader understands without the code: every plot has a title naming the policy, the config and
the data, axis labels with units and a legend.

* ``plot_trajectories``: on-hand, backlog and orders of every agent over one episode, against demand
* ``plot_bullwhip``: variance of each agent's orders divided by the variance of customer demand, per policy
* ``plot_cost_bars``: mean cost per episode of the policies compared (95% intervals, lower bound line)
* ``plot_training_curves``: training and validation cost per episode from a run's metrics.csv
* ``plot_adaptation_curves``: meta-learning: cost on held-out tasks against adaptation updates, per method

Each function returns a ``matplotlib.figure.Figure`` and draws nothing on screen: a notebook shows the
returned figure inline (it has a PNG representation, whatever backend is set), a script saves it with
``save_figure`` (or ``fig.savefig``). Figures are built without pyplot, so importing this module leaves the
matplotlib backend alone, a returned figure is shown once (pyplot would show it a second time at the end of
a notebook cell), and nothing stays in pyplot's list of open figures.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from utils.errors import UserError
from utils.files import atomic_write


class InlineFigure(Figure):
    """A Figure that IPython shows as a PNG without pyplot or an activated inline backend."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def plot_title(subject: str, config: str, data: str) -> str:
    """Two-line title: what is shown (and for which policy), then the config and the data it comes from."""
    return f"{subject}\nconfig: {config}  |  data: {data}"


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a figure as PNG via a temporary name, then rename (a reader never sees half a file)."""
    path = Path(path)
    with atomic_write(path, binary=True) as f:
        fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    return path


def plot_trajectories(
    on_hand: np.ndarray,
    backlog: np.ndarray,
    orders: np.ndarray,
    customer_demand: np.ndarray,
    agent_names: list[str],
    *,
    policy: str,
    config: str,
    data: str,
) -> Figure:
    """One panel per agent: its on-hand, backlog (owed or lost) and orders over one episode, with the demand.

    on_hand, backlog, orders (T, N); customer_demand (T,) or (T, S) (streams summed).
    policy, config, data: named in the title (e.g. "pout_echelon", "configs/train_serial.yaml",
    "test_data/test_demand_merton, file demand_0.txt").
    """
    d = customer_demand.sum(axis=1) if customer_demand.ndim == 2 else customer_demand
    T, N = orders.shape
    fig = InlineFigure(figsize=(9, 2.2 * N + 1.0))
    axes = fig.subplots(N, 1, sharex=True, squeeze=False)
    t = np.arange(T)
    for i, ax in enumerate(axes[:, 0]):
        ax.plot(t, on_hand[:, i], label="on-hand", color="tab:green")
        ax.plot(t, backlog[:, i], label="backlog / lost", color="tab:red")
        ax.step(t, orders[:, i], where="post", label="orders", color="tab:blue", alpha=0.8)
        ax.plot(t, d, label="customer demand", color="black", linestyle=":", linewidth=1)
        ax.set_ylabel(f"{agent_names[i]}\nunits")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", ncol=4, fontsize=8)
    axes[-1, 0].set_xlabel("period")
    fig.suptitle(plot_title(f"{policy}: stock, backlog and orders over one episode", config, data), fontsize=10)
    return fig


def bullwhip_ratios(order_variance: np.ndarray, demand_variance: float) -> np.ndarray:
    """Variance of each agent's orders over the variance of customer demand (1 = no amplification).

    order_variance (N,) units^2 -> (N,); nan where the demand does not vary."""
    if demand_variance <= 0:
        return np.full(np.shape(order_variance), np.nan)
    return np.asarray(order_variance, dtype=float) / demand_variance


def plot_bullwhip(
    order_variances: dict[str, np.ndarray], demand_variance: float, agent_names: list[str], *, config: str, data: str
) -> Figure:
    """Bullwhip ratio Var(orders of agent) / Var(customer demand) per agent (retailer first), one bar per policy.

    order_variances: policy name -> (N,) mean per-episode variance of the agent's orders (units^2);
    demand_variance: mean per-episode variance of customer demand (streams summed).
    The axis is linear from 0 with a line at 1 and every bar labelled with its ratio, so a ratio of
    1.03 looks like 1.03; only when the ratios span more than a factor 50 does the axis turn logarithmic
    (with plain-number tick labels).
    """
    ratios = {name: bullwhip_ratios(v, demand_variance) for name, v in order_variances.items()}
    n_agents, n_policies = len(agent_names), max(len(ratios), 1)
    fig = InlineFigure(figsize=(max(7.0, 1.6 * n_agents * (0.6 + 0.25 * n_policies)), 4.4))
    ax = fig.subplots()
    width = 0.8 / n_policies
    x = np.arange(n_agents)
    for k, (name, r) in enumerate(ratios.items()):
        bars = ax.bar(x + (k - (n_policies - 1) / 2) * width, np.nan_to_num(r), width, label=name)
        ax.bar_label(bars, labels=["n/a" if np.isnan(v) else f"{v:.2f}" for v in r], fontsize=7, padding=2)
    ax.axhline(1.0, color="black", linestyle=":", label="ratio 1 (orders vary as much as demand)")
    positive = np.concatenate([r[np.isfinite(r) & (r > 0)] for r in ratios.values()] or [np.ones(1)])
    if positive.size and positive.max() / positive.min() > 50:
        from matplotlib.ticker import LogLocator, ScalarFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        formatter = ScalarFormatter()
        formatter.set_scientific(False)
        ax.yaxis.set_major_formatter(formatter)
    else:
        ax.set_ylim(0, 1.18 * max(1.0, float(positive.max()) if positive.size else 1.0))
    ax.set_xticks(x, agent_names)
    ax.set_xlabel("agent (downstream to upstream)")
    ax.set_ylabel("Var(orders) / Var(customer demand)")
    ax.set_title(plot_title("Bullwhip ratio by agent (mean variance over episodes)", config, data), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_cost_bars(
    names: list[str], means: np.ndarray, half_widths: np.ndarray, *, config: str, data: str, bound: float | None = None
) -> Figure:
    """Mean chain cost per episode of each policy with its 95% interval; the clairvoyant bound as a line.

    names (P,), means (P,), half_widths (P,): one bar per policy, labelled with its mean."""
    fig = InlineFigure(figsize=(max(6.0, 1.1 * len(names) + 2), 4.4))
    ax = fig.subplots()
    x = np.arange(len(names))
    bars = ax.bar(x, means, yerr=half_widths, capsize=4, color="tab:blue", alpha=0.8, label="mean cost (95% CI over files)")
    ax.bar_label(bars, labels=[f"{m:,.0f}" for m in means], fontsize=8, label_type="center", color="white")  # clear of the error bars
    if bound is not None:
        ax.axhline(bound, color="tab:red", linestyle="--", label=f"clairvoyant lower bound ({bound:,.0f})")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("cost per episode (cost units)")
    ax.set_title(plot_title("Cost per episode by policy", config, data), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def read_metrics_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of a run's metrics.csv as float arrays (empty cells are NaN)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"metrics file '{path}' not found; pass the metrics.csv of a training run folder")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise UserError(f"metrics file '{path}' has no rows; the run has not finished an iteration")
    return {k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows]) for k in rows[0]}


def plot_training_curves(metrics_csv: str | os.PathLike, *, policy: str, config: str, data: str) -> Figure:
    """Training-rollout and validation cost per episode against environment steps, from metrics.csv.

    data: what the validation cost is measured on (e.g. "validation: 20 merton paths, seed 10000")."""
    m = read_metrics_csv(metrics_csv)
    for key in ("env_steps", "train_cost", "eval_cost"):
        if key not in m:
            raise UserError(f"metrics file '{metrics_csv}' has no '{key}' column; is it a train_main.py metrics.csv?")
    fig = InlineFigure(figsize=(7, 4.4))
    ax = fig.subplots()
    ax.plot(m["env_steps"], m["train_cost"], label="training rollouts (sampled actions)", alpha=0.7)
    ok = ~np.isnan(m["eval_cost"])
    ax.plot(m["env_steps"][ok], m["eval_cost"][ok], marker="o", label="validation (greedy)")
    ax.set_xlabel("environment steps (periods x chains)")
    ax.set_ylabel("mean cost per episode (cost units)")
    ax.set_title(plot_title(f"{policy}: cost during training", config, data), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_adaptation_curves(curves: dict[str, np.ndarray], updates: list[int], *, subject: str, config: str, data: str) -> Figure:
    """Mean cost over held-out tasks (and seeds, when rows repeat per seed) with its 95% t-interval, against
    the number of adaptation updates, one line per method.

    curves: method -> (n_rows, len(updates)) cost per episode of each task (row) after each number of updates."""
    from utils.metrics import confidence_interval

    fig = InlineFigure(figsize=(9, 4.4))
    ax = fig.subplots()
    # more methods than the default cycle's 10 colours: 20 distinct ones, so no two lines share a colour
    colors = colormaps["tab20"].colors if len(curves) > 10 else [None] * len(curves)
    for (method, costs), color in zip(curves.items(), colors):
        mean_half = np.array([confidence_interval(costs[:, j]) for j in range(len(updates))])  # (U, 2)
        if np.all(costs == costs[:, :1]):  # a reference line that does not adapt (tuned rule, trained from scratch)
            ax.plot(updates, mean_half[:, 0], linestyle="--", color=color, label=method)  # dashed, no band: stays legible
            continue
        line, = ax.plot(updates, mean_half[:, 0], marker="o", color=color, label=method)
        ax.fill_between(updates, mean_half[:, 0] - mean_half[:, 1], mean_half[:, 0] + mean_half[:, 1], color=line.get_color(), alpha=0.15)
    ax.set_xticks(updates)
    ax.set_xlabel("adaptation updates")
    ax.set_ylabel("cost per episode (held-out tasks, log scale)")
    ax.set_yscale("log")  # a random initialisation costs 10-50x a tuned rule: on a linear axis the rest is flat
    ax.set_title(plot_title(subject, config, data), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes: the curves overlap
    return fig
