"""Evaluate a trained policy and/or classic baselines on every file of a demand folder, next to a lower bound.

    python evaluate_main.py --model_path results/serial_policy.pt          # the env and data it was trained for
    python evaluate_main.py --config configs/train_serial.yaml [--model_path results/serial_policy.pt]
                            [--policy echelon_base_stock] [--baselines] [--eval_dir DIR] [--in_sample | --tune_dir DIR]
                            [--baselines_config configs/baselines.yaml] [--set KEY=VALUE ...]
                            [--output_json results/eval.json] [--plots results/plots]
                            [--planner wagner_whitin] [--planner_config configs/heuristics.yaml]

A model file carries the resolved config it was trained with: ``--model_path`` alone evaluates it on that
env and that test folder, with the planner it was trained with; ``--config`` (a YAML file instead of the
stored config) and ``--set`` override, and a model that does not fit the resulting env is a one-line error.

Every file of the folder (default: the config's ``demand.test_dir``) is one episode; all of them run as one
batch. A baseline's parameters are the ones given (``--set baselines.echelon_levels=[45,90,140]`` or the
baselines config file) or else tuned by simulation on demand drawn from the training generator
(``baselines.tune_seed``), never on the evaluated files; ``--in_sample`` tunes on the evaluated files
instead (the paper's protocol) and labels those rows "in-sample"; ``--tune_dir DIR`` tunes on the files of
another folder and names it in the rows. ``--baselines`` runs every baseline of
the env's supply graph and the clairvoyant LP bound (not with random shipping loss). Other ``--set`` keys override the
experiment config (e.g. ``--set env.serial.fixed_order_cost=25``).

The table: cost per episode (mean over files, 95% t-interval), mean cost per agent, the paper's figure
(mean per-agent reward), the paper's ordering fluctuation and the fill rate per agent (``utils/metrics.py``).
``--output_json`` writes all of it plus every per-file cost and the parameters used.

``--planner NAME`` (wagner_whitin, silver_meal, ga, dalsa) passes the trained policy's orders through the
hybrid planner (``lot_sizing.hybrid_planner``), which re-times them into economical lots; its settings are
the config's ``planner:`` section, or ``--planner_config`` (e.g. configs/heuristics.yaml). A config whose
``planner:`` section is enabled, or a model trained with the planner in the loop, gets it without the flag
(``--set planner.enabled=false`` turns it off).
"""
from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from agents.baselines import POLICIES, DemandSummary, explicit_params, make_baseline, policy_names, tune, tuning_demand
from agents.rollout import rollout
from agents.planner_wrapper import OrderPlanner, PlannedPolicy
from envs import make_env
from lot_sizing.hybrid_planner import check_backend
from utils.config import (
    BaselinesConfig, ExperimentConfig, PlannerConfig, apply_overrides, config_from_dict, load_config, read_yaml_file,
    validate,
)
from utils.data_loader import read_demand_folder
from utils.errors import UserError, run_cli
from utils.files import check_output_dir, check_output_file, write_json_atomic
from utils.logger import Progress
from utils.meta_config import META_ALGORITHMS
from utils.metrics import Rollout, confidence_interval, summarize

#: the clairvoyant bound's row name
BOUND = "clairvoyant bound (LP)"


def baseline_settings(config: ExperimentConfig, path: str | None, overrides: list[str]) -> ExperimentConfig:
    """The config whose ``baselines:`` section is replaced by the YAML file at `path` (if any); the
    ``baselines.key=value`` overrides among `overrides` are applied after the file, so they win."""
    if not path:
        return config
    data = read_yaml_file(path, "baselines config", "configs/baselines.yaml") or {}
    config = dataclasses.replace(config, baselines=config_from_dict(data, str(path), BaselinesConfig))
    return apply_overrides(config, [item for item in overrides if item.startswith("baselines.")])


def planner_settings(
    config: ExperimentConfig, backend: str | None, path: str | None, trained: PlannerConfig | None = None
) -> PlannerConfig | None:
    """The planner to put after a trained policy: the config's planner: section (or the file at `path`),
    with the back end `backend` when one is named; None when no planner is asked for.

    trained: the planner section the model was trained with; when it is on and the config's is off, the
    model keeps its planner (a policy trained to propose orders for the planner is not evaluated without it)."""
    if backend is not None:
        check_backend(backend)
    settings = config.planner
    if trained is not None and trained.enabled and not settings.enabled:
        settings = trained
    if path:
        data = read_yaml_file(path, "planner config", "configs/heuristics.yaml") or {}
        settings = config_from_dict(data, str(path), PlannerConfig)
        validate(ExperimentConfig(env=config.env, planner=settings), str(path))
    if backend is not None:
        settings = dataclasses.replace(settings, enabled=True, backend=backend)
    return settings if settings.enabled else None


def load_model(path: str) -> tuple[Any, ExperimentConfig]:
    """A trained policy (weights only) and the resolved config stored with it."""
    from agents.happo_agent import load_policy  # the trainer's module is needed only when a model is evaluated

    with warnings.catch_warnings():
        # torch warns (several lines) about pickle protocols while refusing a foreign file; the one-line
        # UserError that follows already says what is wrong
        warnings.simplefilter("ignore", UserWarning)
        return load_policy(path)


def experiment_config(loaded: ExperimentConfig | None, config_path: str | None, model: tuple[Any, ExperimentConfig] | None,
                      model_path: str | None, overrides: list[str]) -> tuple[ExperimentConfig, str]:
    """The config to evaluate with, and how titles and the JSON name it: the YAML file's (`loaded`, overrides
    applied) when one is given, else the config stored in the model file with the ``--set`` overrides."""
    if loaded is not None:
        return loaded, str(config_path)
    if model is None:
        raise UserError("no --config given; pass one, e.g. --config configs/train_serial.yaml, or a --model_path "
                        "(evaluated on the config it was trained with)")
    config = apply_overrides(model[1], overrides) if overrides else model[1]
    return config, f"{model_path} (its training config)"


def learned_policy(path: str, env: Any, sample_actions: bool = False, model: tuple[Any, ExperimentConfig] | None = None) -> Any:
    """A trained policy (loaded from `path` unless `model` holds it already) checked to fit the evaluation env."""
    policy, trained = model if model is not None else load_model(path)
    trained_env = make_env(trained.env, n_envs=1)  # the env the policy was trained on, for its dimensions
    if trained_env.n_agents != env.n_agents or not np.array_equal(trained_env.action_nvec, env.action_nvec):
        raise UserError(
            f"model file '{path}' was trained on a {trained.env.kind} env with {trained_env.n_agents} agents and other "
            "actions than the config's env; evaluate with the config the model was trained with"
        )
    if trained_env.obs_dim != env.obs_dim:
        raise UserError(
            f"model file '{path}' expects observations of size {trained_env.obs_dim} but the env gives {env.obs_dim}; "
            "use the observation options (env.obs_*) the model was trained with"
        )
    from agents.experiment import trained_policy  # torch only when a model is evaluated

    return trained_policy(policy, trained, env, sample_actions=sample_actions, planner=False)


def tuning_set(config: ExperimentConfig, bcfg: BaselinesConfig, eval_dir: str, eval_demand: np.ndarray, n_streams: int):
    """The demand baselines are tuned on, a description, and the label suffix of their rows.

    Default: paths from the training generator (out of sample). ``in_sample`` or a ``tune_dir`` equal to
    the evaluated folder: the evaluated files, labelled "(in-sample)". Another ``tune_dir``: its files.
    """
    if bcfg.in_sample or (bcfg.tune_dir and Path(bcfg.tune_dir).resolve() == Path(eval_dir).resolve()):
        return eval_demand, "the evaluated files (in-sample)", " (in-sample)"
    if bcfg.tune_dir:
        folder = read_demand_folder(bcfg.tune_dir)
        if folder.n_streams != n_streams or folder.demand.shape[1] < config.env.episode_length:
            raise UserError(
                f"tuning folder '{bcfg.tune_dir}' must hold {n_streams} stream(s) of at least {config.env.episode_length} periods"
            )
        return folder.demand[:, : config.env.episode_length], f"the files of '{bcfg.tune_dir}'", f" (tuned on {bcfg.tune_dir})"
    demand = tuning_demand(config, bcfg, n_streams)
    return demand, f"{bcfg.tune_paths} training-generator paths, seed {bcfg.tune_seed}", ""


def run_baseline(
    name: str, config: ExperimentConfig, bcfg: BaselinesConfig, env: Any, eval_demand: np.ndarray, seed: int, tuning: tuple
) -> tuple[str, Rollout, dict]:
    """Tune (or take the given parameters of) one baseline, then run it on the evaluation demand.

    tuning: (demand (M, T, S), description, row-label suffix) from ``tuning_set``.
    """
    # only the parameter names are needed here (they do not depend on demand): no statistic of the files is used
    space = POLICIES[name].param_space(env, DemandSummary(mean=1.0, high=1.0))
    params = explicit_params(name, bcfg, len(space.names))
    label, info = name, {"param_names": space.names}
    if params is None:
        demand, info["tuned_on"], suffix = tuning
        label = name + suffix
        result = tune(name, config.env, demand, bcfg.max_sweeps, seed, bcfg.cache_dir or None)
        params = result.params
        info.update(tuning_cost=result.mean_cost, tuning_candidates=result.n_candidates, tuning_seconds=result.seconds)
    else:
        info["tuned_on"] = "given"
    info["params"] = params.tolist()
    return label, rollout(make_baseline(name, params), env, eval_demand, seed=seed), info


def format_table(rows: dict[str, dict], agent_names: list[str]) -> str:
    """Markdown table: one row per policy."""
    short = [n.replace("retailer", "R").replace("stage_", "S") for n in agent_names]
    head = (
        "| policy | cost / episode (95% CI) | cost per agent (" + ", ".join(short) + ") | paper figure "
        "| ordering fluctuation | fill rate |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        half = "n/a (1 file)" if np.isnan(r["cost_ci95"]) else f"{r['cost_ci95']:,.1f}"  # no interval from one episode
        ci = f"{r['cost_mean']:,.1f} ± {half}"
        per_agent = " / ".join(f"{c:,.0f}" for c in r["agent_cost"])
        if "paper_figure" not in r:
            lines.append(f"| {name} | {ci} | {per_agent} | — | — | — |")
            continue
        fluct = " / ".join("no orders" if np.isnan(v) else f"{v:.2f}" for v in r["ordering_fluctuation"])
        fill = " / ".join("no demand" if np.isnan(v) else f"{v:.3f}" for v in r["fill_rate"])
        lines.append(f"| {name} | {ci} | {per_agent} | {r['paper_figure']:.2f} | {fluct} | {fill} |")
    return "\n".join(lines)


def make_plots(
    out: Path, rollouts: dict[str, Rollout], rows: dict[str, dict], agent_names: list[str], model_path: str | None,
    config_label: str, eval_dir: str, file_names: list[str],
) -> None:
    """PNG figures of the evaluation in `out`; titles name the policy, `config_label` and the evaluated folder."""
    from utils.plot_tools import plot_bullwhip, plot_cost_bars, plot_training_curves, plot_trajectories, save_figure

    data = f"{eval_dir} ({len(file_names)} files)"
    for name, r in rollouts.items():
        slug = name.split(" ")[0]
        fig = plot_trajectories(r.on_hand[0], r.unmet[0], r.orders[0], r.customer_demand[0], agent_names,
                                policy=name, config=config_label, data=f"{eval_dir}, file {file_names[0]}")
        save_figure(fig, out / f"trajectory_{slug}.png")
    first = next(iter(rollouts.values()))
    demand_var = float(first.customer_demand.sum(axis=2).var(axis=1).mean())
    fig = plot_bullwhip({n: r.orders.var(axis=1).mean(axis=0) for n, r in rollouts.items()}, demand_var, agent_names,
                        config=config_label, data=data)
    save_figure(fig, out / "bullwhip.png")
    names = [n for n in rows if n != BOUND]
    fig = plot_cost_bars(names, np.array([rows[n]["cost_mean"] for n in names]), np.array([rows[n]["cost_ci95"] for n in names]),
                         config=config_label, data=data, bound=rows[BOUND]["cost_mean"] if BOUND in rows else None)
    save_figure(fig, out / "cost_bars.png")
    metrics = Path(model_path).parent / "metrics.csv" if model_path else None
    if metrics is not None and metrics.is_file():
        fig = plot_training_curves(metrics, policy=Path(model_path).name, config=config_label,
                                   data=f"validation set of the run in {metrics.parent}")
        save_figure(fig, out / "training_curves.png")


def main() -> int:
    parser = argparse.ArgumentParser(description="Evaluate a trained policy and classic baselines on demand files.")
    parser.add_argument("--config", help="experiment YAML, e.g. configs/train_serial.yaml (default with --model_path: "
                        "the config stored in the model file)")
    parser.add_argument("--model_path", help="trained policy file written by train_main.py")
    parser.add_argument("--sample_actions", action="store_true",
                        help="the trained policy samples its actions (seeded) instead of acting greedily")
    parser.add_argument("--policy", action="append", default=[], metavar="NAME", help=f"a baseline: {', '.join(POLICIES)}")
    parser.add_argument("--baselines", action="store_true", help="every baseline defined on the env's supply graph and the clairvoyant bound")
    parser.add_argument("--eval_dir", help="demand folder to evaluate on (default: the config's demand.test_dir)")
    parser.add_argument("--in_sample", action="store_true", help="tune baselines on the evaluated files (labelled in-sample)")
    parser.add_argument("--tune_dir", help="tune baselines on the files of this folder (default: training-generator paths)")
    parser.add_argument("--baselines_config", help="YAML of baseline settings (keys of the baselines: config section)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (section.key=value) or a baseline setting (baselines.key=value)")
    parser.add_argument("--output_json", help="write every number of the table and the per-file costs here")
    parser.add_argument("--plots", help="folder for PNG plots (trajectories, bullwhip, cost bars, training curves)")
    parser.add_argument("--planner", metavar="NAME", help="place the trained policy's orders through the hybrid planner with this back end "
                        "(needs --model_path): exact or ga in the default net_requirements mode; wagner_whitin, "
                        "silver_meal, ga or dalsa with --set planner.mode=retime")
    parser.add_argument("--planner_config", help="YAML of planner settings (keys of the planner: section), e.g. configs/heuristics.yaml")
    args = parser.parse_args()

    loaded = load_config(args.config, args.overrides) if args.config else None
    if loaded is not None and loaded.train.algorithm in META_ALGORITHMS:  # meta-learning: adaptation curves on the held-out tasks
        if not args.model_path:
            raise UserError("a meta-learning config evaluates a meta-trained model: give --model_path results/meta_<algorithm>_policy.pt")
        from meta.evaluation import evaluate_meta

        return evaluate_meta(baseline_settings(loaded, args.baselines_config, args.overrides), args.model_path, args.plots)
    model = load_model(args.model_path) if args.model_path else None  # (policy, the config it was trained with)
    config, config_label = experiment_config(loaded, args.config, model, args.model_path, args.overrides)
    config = baseline_settings(config, args.baselines_config, args.overrides)
    bcfg = config.baselines
    # outputs are checked before any work: a bad path is an error now, not after the evaluation
    if args.output_json:
        check_output_file(args.output_json, "--output_json")
    if args.plots:
        check_output_dir(args.plots, "--plots")
    if args.in_sample:
        bcfg.in_sample = True
    if args.tune_dir:
        bcfg.tune_dir = args.tune_dir
    if not (args.model_path or args.policy or args.baselines):
        raise UserError("nothing to evaluate: give --model_path, --policy NAME or --baselines")
    planner_set = any(item.startswith("planner.") for item in args.overrides)  # the user chose the planner: no default
    trained_planner = model[1].planner if model is not None and not planner_set else None
    planner = planner_settings(config, args.planner, args.planner_config, trained_planner)
    if args.planner and not args.model_path:
        raise UserError("--planner refines a trained policy's orders; give --model_path too")
    if args.sample_actions and not args.model_path:
        raise UserError("--sample_actions is how a trained policy acts; give --model_path too")
    eval_dir = args.eval_dir or config.demand.test_dir
    demand_set = read_demand_folder(eval_dir)
    n_files = demand_set.demand.shape[0]
    env = make_env(config.env, n_envs=n_files)
    if demand_set.n_streams != env.n_streams:
        raise UserError(
            f"demand folder '{eval_dir}' has {demand_set.n_streams} customer stream(s) but the env needs {env.n_streams}; "
            "pick the test set of this env"
        )
    if demand_set.demand.shape[1] < env.episode_length:
        raise UserError(
            f"demand files in '{eval_dir}' have {demand_set.demand.shape[1]} periods but an episode has {env.episode_length}"
        )
    demand = demand_set.demand[:, : env.episode_length]  # (B, T, S)
    names = list(args.policy)
    applicable = policy_names(env.graph)
    if args.baselines:
        names += [n for n in applicable if n not in names]
    for n in names:
        if n not in applicable:
            raise UserError(f"baseline '{n}' is not defined on this env's supply graph; choose one of {', '.join(applicable)}")

    rows: dict[str, dict] = {}
    rollouts: dict[str, Rollout] = {}
    if args.model_path:
        policy = learned_policy(args.model_path, env, args.sample_actions, model)
        if planner is not None:
            policy = PlannedPolicy(policy, OrderPlanner(planner, env))
        r = rollout(policy, env, demand, seed=config.seed)
        rollouts[policy.name], rows[policy.name] = r, {**summarize(r), "model_path": args.model_path}
        if planner is not None:
            rows[policy.name]["planner"] = dataclasses.asdict(planner)
    tuning = tuning_set(config, bcfg, eval_dir, demand, env.n_streams) if names else None
    progress = Progress(len(names), "baselines", every_s=0.0)
    for k, n in enumerate(names, start=1):
        label, r, info = run_baseline(n, config, bcfg, env, demand, config.seed, tuning)
        rollouts[label], rows[label] = r, {**summarize(r), **info}
        progress.update(k, f"{label}: {rows[label]['cost_mean']:,.1f} per episode")
    if args.baselines and not env.random_shipping_loss:  # the LP covers any supply graph, without random losses
        from agents.clairvoyant import clairvoyant_bounds

        start = time.perf_counter()
        totals, per_stage = clairvoyant_bounds(config.env, demand)
        mean, half = confidence_interval(totals)
        rows[BOUND] = {"cost_mean": mean, "cost_ci95": half, "agent_cost": per_stage.mean(axis=0).tolist(),
                       "episode_cost": totals.tolist(), "episode_agent_cost": per_stage.tolist(),
                       "seconds": time.perf_counter() - start}

    print(f"{n_files} files of '{eval_dir}', {env.episode_length} periods, agents: {', '.join(env.agent_names)}")
    print(format_table(rows, env.agent_names))
    if args.baselines and BOUND not in rows:
        print("\n(no clairvoyant bound: the LP does not model random shipping loss)")
    if args.output_json:
        write_json_atomic(Path(args.output_json), {
            "config": config_label, "overrides": args.overrides, "eval_dir": str(eval_dir), "files": demand_set.names,
            "agent_names": env.agent_names, "baseline_settings": vars(bcfg), "policies": rows,
        })
    if args.plots:
        make_plots(Path(args.plots), rollouts, rows, env.agent_names, args.model_path, config_label, str(eval_dir), demand_set.names)
    return 0


def cli() -> None:
    """Console entry point (``inventory-evaluate`` after ``pip install -e .``)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
