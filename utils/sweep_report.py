"""A sweep's tables and learning curves, from its cells' results (``utils.sweep``).

* ``summary.csv`` (long format) and ``summary.md``: per grid point and metric, the mean over seeds and
  the 95% Student-t interval of that mean (``utils.metrics.confidence_interval``). The metrics are every
  number of ``utils.metrics.summarize`` that ``evaluate_main.py`` reports, on the test files and on the
  validation set (cost per episode, cost per agent, the paper's figure, ordering fluctuation, bullwhip,
  fill rate, cycle service level, mean on-hand and backlog), plus the training wall time.
* ``paired.csv`` and a section of ``summary.md``: each point minus the first point of the grid, per seed,
  where the two were tested on the same files (mean difference and its 95% t interval over the shared
  seeds; a claim needs an interval that excludes zero).
* ``learning_curves.png``: validation cost against environment steps, mean over seeds with the 95% band.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from utils.files import atomic_write, write_text_atomic
from utils.metrics import confidence_interval

#: (key in summarize, label, per agent?) in the order of evaluate_main's table, then the rest of summarize
METRICS = [
    ("cost_mean", "cost / episode", False),
    ("agent_cost", "cost per agent", True),
    ("paper_figure", "paper figure", False),
    ("ordering_fluctuation", "ordering fluctuation", True),
    ("fill_rate", "fill rate", True),
    ("bullwhip", "bullwhip ratio", True),
    ("cycle_service_level", "cycle service level", True),
    ("mean_on_hand", "mean on-hand", True),
    ("mean_backlog", "mean backlog", True),
]
SPLITS = ("test", "validation")


def _values(results: list[dict], split: str, key: str, agent: int | None) -> np.ndarray:
    """One number per seed (null -> NaN)."""
    out = []
    for r in results:
        v = r[split][key] if agent is None else r[split][key][agent]
        out.append(np.nan if v is None else float(v))
    return np.array(out)


def interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% t half-width over seeds; NaN when a seed's value is undefined (a ratio over nothing)."""
    if np.isnan(values).any():
        return float("nan"), float("nan")
    return confidence_interval(values)


def by_point(results: dict[int, dict]) -> dict[str, list[dict]]:
    """Results grouped by grid point (grid order), each list in seed order."""
    points: dict[str, list[dict]] = {}
    for index in sorted(results):
        points.setdefault(results[index]["cell"]["point"], []).append(results[index])
    return {p: sorted(rs, key=lambda r: r["cell"]["seed"]) for p, rs in points.items()}


def summary_rows(points: dict[str, list[dict]]) -> list[dict]:
    """Long-format rows: point, split, metric, agent, n_seeds, mean, ci95 (half-width), low, high."""
    rows = []
    for point, rs in points.items():
        n_agents = len(rs[0]["test"]["agent_cost"])
        for split in SPLITS:
            for key, _, per_agent in METRICS:
                for agent in range(n_agents) if per_agent else [None]:
                    mean, half = interval(_values(rs, split, key, agent))
                    rows.append({"point": point, "split": split, "metric": key, "agent": "" if agent is None else agent,
                                 "n_seeds": len(rs), "mean": mean, "ci95": half, "low": mean - half, "high": mean + half})
        mean, half = interval(np.array([r["train"]["wall_time"] for r in rs], dtype=float))
        rows.append({"point": point, "split": "train", "metric": "wall_time_s", "agent": "", "n_seeds": len(rs),
                     "mean": mean, "ci95": half, "low": mean - half, "high": mean + half})
    return rows


def paired_rows(points: dict[str, list[dict]]) -> list[dict]:
    """Each point minus the first, per shared seed, on cost per episode (test and validation), where both
    were tested on the same files."""
    names = list(points)
    if len(names) < 2:
        return []
    ref = {r["cell"]["seed"]: r for r in points[names[0]]}
    rows = []
    for name in names[1:]:
        other = {r["cell"]["seed"]: r for r in points[name]}
        seeds = sorted(set(ref) & set(other))
        same_files = all(ref[s]["test_dir"] == other[s]["test_dir"] and ref[s]["test_files"] == other[s]["test_files"]
                         for s in seeds)
        if not seeds or not same_files:
            continue
        for split in SPLITS:
            diffs = np.array([other[s][split]["cost_mean"] - ref[s][split]["cost_mean"] for s in seeds])
            mean, half = interval(diffs)
            rows.append({"point": name, "reference": names[0], "split": split, "metric": "cost_mean", "n_seeds": len(seeds),
                         "mean_difference": mean, "ci95": half, "low": mean - half, "high": mean + half,
                         "per_seed": " ".join(f"{d:.6g}" for d in diffs)})
    return rows


def _fmt(mean: float, half: float) -> str:
    if mean != mean:
        return "n/a"
    digits = 3 if abs(mean) < 10 else 1
    return f"{mean:,.{digits}f} ± {half:,.{digits}f}" if half == half else f"{mean:,.{digits}f}"


def markdown(points: dict[str, list[dict]], rows: list[dict], paired: list[dict]) -> str:
    """The summary as Markdown: one table per split (rows: points; per-agent metrics as a / b / c)."""
    index = {(r["point"], r["split"], r["metric"], r["agent"]): r for r in rows}
    out = []
    for split in SPLITS:
        files = points[next(iter(points))][0]
        where = f"{len(files['test_files'])} files of {files['test_dir']}" if split == "test" else "the validation paths"
        out.append(f"### {split} ({where}; mean ± 95% t half-width over seeds)\n")
        out.append("| point | seeds | " + " | ".join(label for _, label, _ in METRICS) + " |")
        out.append("|---|---:|" + "---:|" * len(METRICS))
        for point, rs in points.items():
            n_agents = len(rs[0]["test"]["agent_cost"])
            cells = []
            for key, _, per_agent in METRICS:
                agents = range(n_agents) if per_agent else [""]
                cells.append(" / ".join(_fmt(index[(point, split, key, a)]["mean"], index[(point, split, key, a)]["ci95"])
                                        for a in agents))
            out.append(f"| {point} | {len(rs)} | " + " | ".join(cells) + " |")
        out.append("")
    if paired:
        out.append("### paired differences in cost per episode (point minus reference, per seed; 95% t interval)\n")
        out.append("| point | reference | split | seeds | mean difference | 95% interval |")
        out.append("|---|---|---|---:|---:|---:|")
        for r in paired:
            out.append(f"| {r['point']} | {r['reference']} | {r['split']} | {r['n_seeds']} | {r['mean_difference']:+,.1f} | "
                       f"[{r['low']:+,.1f}, {r['high']:+,.1f}] |")
        out.append("")
    return "\n".join(out)


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def plot_learning_curves(points: dict[str, list[dict]], path: str | os.PathLike, title: str) -> Path:
    """Validation cost per episode against env steps: per point the mean over seeds and its 95% t band."""
    from matplotlib.figure import Figure  # no pyplot: no backend is switched, nothing global is touched

    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    for point, rs in points.items():
        steps = np.array(rs[0]["curve"]["env_steps"], dtype=float)
        costs = np.array([[np.nan if c is None else c for c in r["curve"]["eval_cost"]] for r in rs], dtype=float)  # (seeds, rows)
        keep = ~np.isnan(costs).any(axis=0)  # iterations with a validation in every seed
        stats = [interval(costs[:, j]) for j in np.flatnonzero(keep)]
        mean = np.array([m for m, _ in stats])
        half = np.nan_to_num(np.array([h for _, h in stats]))
        line, = ax.plot(steps[keep], mean, marker="o", markersize=3, label=f"{point} ({len(rs)} seeds)")
        ax.fill_between(steps[keep], mean - half, mean + half, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("environment steps (periods x chains)")
    ax.set_ylabel("validation cost per episode (cost units)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="mean, band: 95% t interval over seeds", title_fontsize=8)
    path = Path(path)
    with atomic_write(path, binary=True) as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    return path


def write_report(results: dict[int, dict], sweep_dir: str | os.PathLike, title: str) -> str:
    """Write summary.csv, summary.md, paired.csv and learning_curves.png into sweep_dir; return the Markdown."""
    sweep_dir = Path(sweep_dir)
    points = by_point(results)
    rows, paired = summary_rows(points), paired_rows(points)
    text = markdown(points, rows, paired)
    write_text_atomic(sweep_dir / "summary.csv", _csv_text(rows))
    write_text_atomic(sweep_dir / "paired.csv", _csv_text(paired))
    write_text_atomic(sweep_dir / "summary.md", f"## {title}\n\n{text}")
    plot_learning_curves(points, sweep_dir / "learning_curves.png", title)
    return text
