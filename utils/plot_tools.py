"""PNG figures a reader understands without the code: every plot has a title, axis labels with units and a legend.

* ``plot_trajectories``: on-hand, backlog and orders of every agent over one episode, against demand
* ``plot_bullwhip``: variance of orders by stage next to the variance of customer demand, per policy
* ``plot_cost_bars``: mean cost per episode of the policies compared (95% intervals, lower bound line)
* ``plot_training_curves``: training and validation cost per episode from a run's metrics.csv

Matplotlib runs with the non-interactive Agg backend, so plotting works on a machine without a display.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from utils.errors import UserError  # noqa: E402
from utils.files import atomic_write  # noqa: E402


def _save(fig, path: str | os.PathLike) -> Path:
    """Write a figure via a temporary name, then rename (a reader never sees half a PNG)."""
    path = Path(path)
    try:
        with atomic_write(path, binary=True) as f:
            fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def plot_trajectories(
    on_hand: np.ndarray,
    backlog: np.ndarray,
    orders: np.ndarray,
    customer_demand: np.ndarray,
    agent_names: list[str],
    path: str | os.PathLike,
    title: str,
) -> Path:
    """One panel per agent: its on-hand, backlog (owed or lost) and orders over one episode, with the demand.

    on_hand, backlog, orders (T, N); customer_demand (T,) or (T, S) (streams summed).
    """
    d = customer_demand.sum(axis=1) if customer_demand.ndim == 2 else customer_demand
    T, N = orders.shape
    fig, axes = plt.subplots(N, 1, figsize=(9, 2.2 * N + 0.6), sharex=True, squeeze=False)
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
    fig.suptitle(title)
    return _save(fig, path)


def plot_bullwhip(variances: dict[str, np.ndarray], demand_variance: float, agent_names: list[str], path: str | os.PathLike, title: str) -> Path:
    """Variance of orders per agent (retailer first), one line per policy, against customer demand's variance.

    variances: policy name -> (N,) mean per-episode variance of the agent's orders (units^2).
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(agent_names))
    for name, v in variances.items():
        ax.plot(x, v, marker="o", label=name)
    ax.axhline(demand_variance, color="black", linestyle=":", label="customer demand")
    ax.set_xticks(x, agent_names)
    ax.set_xlabel("agent (downstream to upstream)")
    ax.set_ylabel("variance of orders (units$^2$)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_cost_bars(
    names: list[str], means: np.ndarray, half_widths: np.ndarray, path: str | os.PathLike, title: str, bound: float | None = None
) -> Path:
    """Mean chain cost per episode of each policy with its 95% interval; the clairvoyant bound as a line."""
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names) + 2), 4))
    x = np.arange(len(names))
    ax.bar(x, means, yerr=half_widths, capsize=4, color="tab:blue", alpha=0.8, label="mean cost (95% CI over files)")
    if bound is not None:
        ax.axhline(bound, color="tab:red", linestyle="--", label="clairvoyant lower bound")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("cost per episode (cost units)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


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


def plot_training_curves(metrics_csv: str | os.PathLike, path: str | os.PathLike, title: str) -> Path:
    """Training-rollout and validation cost per episode against environment steps, from metrics.csv."""
    m = read_metrics_csv(metrics_csv)
    for key in ("env_steps", "train_cost", "eval_cost"):
        if key not in m:
            raise UserError(f"metrics file '{metrics_csv}' has no '{key}' column; is it a train_main.py metrics.csv?")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(m["env_steps"], m["train_cost"], label="training rollouts (sampled actions)", alpha=0.7)
    ok = ~np.isnan(m["eval_cost"])
    ax.plot(m["env_steps"][ok], m["eval_cost"][ok], marker="o", label="validation (greedy)")
    ax.set_xlabel("environment steps (periods x chains)")
    ax.set_ylabel("mean cost per episode (cost units)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
