"""The fixed-cost table: pure HAPPO, HAPPO with the hybrid planner and the tuned classic rules, over training seeds.

    python benchmarks/fixed_cost_table.py [--fixed_costs 5 25 100] [--seeds 0 1 2 3 4] [--jobs 2]
        [--steps 2000000] [--out results/fixed_cost_table]

Every row is trained and scored the same way at each K; one K takes about an hour of trainings two at a
time on a 2-core machine (20 trainings of 2M steps).

At each fixed cost K, on ``configs/train_serial_fixed_cost.yaml`` (``env.serial.fixed_order_cost=K``):
- **pure HAPPO**: one training per seed, evaluated greedily on the test files;
- **+ planner at evaluation**: the same models, their orders placed through the net-requirements planner
  (``evaluate_main --planner exact``, planner settings at their defaults);
- **trained with the planner**: one training per seed with ``planner.enabled=true`` (same settings), evaluated
  with it;
- **correcting the rule, with the planner**: the residual action on the rule-with-planner reference below
  (its family and parameters, chosen on the tuning paths), the planner placing the corrected orders, team
  reward (``env.reward_alpha=0``, what the table scores), the residual settings of the serial preset
  (corrections -5..5, the rule's order with probability 0.5 at the start); trained and evaluated that way;
- **classic rules**: every family tuned at that K on training-generator paths (``evaluate_main --baselines``,
  one run per K), the forecast-adaptive (s, S) and the best family (lowest test cost) shown;
- **a rule with the planner**: the planner placing a classic rule's orders, a hybrid without learning. The
  family is chosen on the tuning paths only: every family's parameters (tuned alone) run through the
  planner there, the cheapest is then tuned again with the planner in the loop (``tune(planner=...)``;
  the parameters with the lower tuning cost are kept) and scored on the test files with it.

Paired differences are over training seeds (a seed's evaluation-planner row and its pure row share the
model; the trained-with-planner row of seed s is paired with the pure row of seed s), mean and 95% t
interval; against a rule the difference is the seed's cost minus the rule's (deterministic) cost, so the
interval is the spread over training seeds only. Trainings and evaluations already in ``--out`` are reused
(an interrupted table completes where it stopped); every command is printed. The markdown tables and a
``table.json`` with every number are written to ``--out``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from agents.baselines import candidate_costs, make_baseline, rollout, tune, tuning_demand
from agents.planner_wrapper import OrderPlanner, PlannedPolicy
from envs import make_env
from happo_ablations import best_validation
from happo_quality import BOUND, run, set_args, train_and_evaluate, wait
from utils.config import PlannerConfig, load_config
from utils.data_loader import read_demand_folder
from utils.errors import run_cli
from utils.metrics import confidence_interval

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/train_serial_fixed_cost.yaml"
MODEL = "serial_fixed_cost_policy.pt"
SS = "forecast_s_S"


def policy_cost(path: Path) -> float:
    """Test cost per episode of the one policy an evaluate_main JSON holds."""
    (row,) = json.loads(path.read_text())["policies"].values()
    return float(row["cost_mean"])


def evaluate(cmd_args: list[str], out_json: Path) -> None:
    """Run evaluate_main with cmd_args into out_json unless it is already there."""
    if out_json.exists():
        return
    log = out_json.with_suffix(".log")
    wait(run([sys.executable, "evaluate_main.py", "--config", CONFIG, *cmd_args, "--output_json", str(out_json)], log), log)


def trained(args: argparse.Namespace, folder: Path, overrides: list[str]) -> dict[int, dict]:
    """Train (where not done) and test every seed of one variant: {seed: {'cost', 'dir', ...}}."""
    variant = argparse.Namespace(config=CONFIG, seeds=args.seeds, jobs=args.jobs, overrides=overrides)
    return train_and_evaluate(variant, folder)


def rule_with_planner(k: float, rules_json: Path, out_json: Path) -> dict:
    """The rule-plus-planner reference at fixed cost k, chosen and tuned on training-generator paths only.

    Every family's parameters tuned alone (from rules_json) run through the planner on the tuning paths;
    the cheapest family is tuned again with the planner in the loop (the lower of the two tuning costs
    keeps its parameters) and scored on the test files with it.
    """
    if out_json.exists():
        return json.loads(out_json.read_text())
    config = load_config(ROOT / CONFIG, [f"env.serial.fixed_order_cost={k:g}"])
    planner = PlannerConfig(enabled=True)  # the settings HAPPO's planner rows use
    demand = tuning_demand(config, config.baselines, 1)  # (M, T, 1) the paths the rules were tuned on
    alone = {name: row["params"] for name, row in json.loads(rules_json.read_text())["policies"].items() if "params" in row}
    screened = {name: float(candidate_costs(name, np.array([params], dtype=float), config.env, demand, config.seed, planner)[0])
                for name, params in alone.items()}
    family = min(screened, key=screened.get)
    tuned = tune(family, config.env, demand, config.baselines.max_sweeps, config.seed,
                 ROOT / config.baselines.cache_dir if config.baselines.cache_dir else None, planner=planner)
    # the search starts from its own random points, not from the parameters tuned alone: keep whichever
    # costs less with the planner on the tuning paths
    params, tuning_cost = ((tuned.params, tuned.mean_cost) if tuned.mean_cost <= screened[family]
                           else (np.array(alone[family], dtype=float), screened[family]))
    test = read_demand_folder(ROOT / config.demand.test_dir).demand[:, : config.env.episode_length]  # (F, T, 1)
    env = make_env(config.env, n_envs=test.shape[0])
    policy = PlannedPolicy(make_baseline(family, params), OrderPlanner(planner, env))
    cost = float(rollout(policy, env, test, seed=config.seed, record=False).sum(axis=1).mean())
    result = {"family": family, "screening_costs": screened, "params": params.tolist(), "tuning_cost": tuning_cost,
              "tuned_with_planner": {"params": tuned.params.tolist(), "tuning_cost": tuned.mean_cost},
              "test_cost": cost, "planner": dataclasses.asdict(planner)}
    out_json.write_text(json.dumps(result, indent=2))
    return result


def interval_text(diffs: list[float], reference: float | None = None) -> str:
    """Mean difference with its 95% t interval (and the mean as a share of reference)."""
    mean, half = confidence_interval(np.array(diffs))
    share = f" ({mean / reference:+.1%})" if reference else ""
    return f"{mean:+,.0f} [{mean - half:+,.0f}, {mean + half:+,.0f}]{share}"


def table_for_k(args: argparse.Namespace, k: float) -> dict:
    """Every number of one K: per-seed costs of the four HAPPO rows, the rules, paired differences."""
    tag = f"K{k:g}"
    base = [f"env.serial.fixed_order_cost={k:g}", f"train.total_env_steps={args.steps}"]
    pure = trained(args, args.out / f"{tag}_pure", base)
    with_planner = trained(args, args.out / f"{tag}_planner", base + ["planner.enabled=true"])
    at_evaluation = {}
    for seed, run_info in pure.items():
        out_json = run_info["dir"] / "test_planner_at_evaluation.json"
        evaluate(["--model_path", str(run_info["dir"] / MODEL), "--planner", "exact", *set_args(base)], out_json)
        at_evaluation[seed] = policy_cost(out_json)
    rules_json = args.out / f"baselines_{tag}.json"
    evaluate(["--baselines", *set_args(base[:1])], rules_json)
    rules = {name: row["cost_mean"] for name, row in json.loads(rules_json.read_text())["policies"].items() if name != BOUND}
    best_rule = min(rules, key=rules.get)
    planned = rule_with_planner(k, rules_json, args.out / f"rule_with_planner_{tag}.json")
    planned_name = f"{planned['family']} + planner"
    rules[planned_name] = planned["test_cost"]
    corrections = ["planner.enabled=true", "residual.enabled=true", f"residual.policy={planned['family']}",
                   f"residual.params={json.dumps(planned['params'])}", "env.reward_alpha=0"]
    correcting = trained(args, args.out / f"{tag}_residual_planner", base + corrections)
    rows = {
        "pure HAPPO": {s: r["cost"] for s, r in pure.items()},
        "HAPPO + planner at evaluation": at_evaluation,
        "HAPPO trained with the planner": {s: r["cost"] for s, r in with_planner.items()},
        "HAPPO correcting the rule, with the planner": {s: r["cost"] for s, r in correcting.items()},
    }
    trainings = {"pure HAPPO": pure, "HAPPO trained with the planner": with_planner,
                 "HAPPO correcting the rule, with the planner": correcting}
    validation = {name: {s: best_validation(r["dir"]) for s, r in runs.items()} for name, runs in trainings.items()}
    seeds = args.seeds
    result = {"K": k, "seeds": seeds, "test": rows, "validation": validation, "rules": rules, "best_rule": best_rule,
              "rule_with_planner": planned_name,
              "train_minutes": {name: statistics.fmean(r["train_seconds"] for r in runs.values()) / 60
                                for name, runs in trainings.items()},
              "paired": {}}
    for name, costs in rows.items():
        result["paired"][name] = {
            "vs pure HAPPO": None if name == "pure HAPPO" else [costs[s] - rows["pure HAPPO"][s] for s in seeds],
            f"vs {SS}": [costs[s] - rules[SS] for s in seeds],
            f"vs {best_rule}": [costs[s] - rules[best_rule] for s in seeds],
            f"vs {planned_name}": [costs[s] - rules[planned_name] for s in seeds],
        }
    return result


def markdown(result: dict) -> str:
    k, seeds, rules, best_rule = result["K"], result["seeds"], result["rules"], result["best_rule"]
    pure_mean = statistics.fmean(result["test"]["pure HAPPO"].values())
    references = [SS] if best_rule == SS else [SS, best_rule]  # the best family gets its own column when it is another
    references.append(result["rule_with_planner"])
    lines = [f"### K = {k:g} ({len(seeds)} training seeds: {', '.join(map(str, seeds))}; best tuned rule: {best_rule})", "",
             "| policy | test cost per seed | mean ± sd | vs pure HAPPO (paired) | "
             + " | ".join(f"vs {name} {rules[name]:,.0f}" for name in references) + " |",
             "|---|---|---:|---:|" + "---:|" * len(references)]
    for name, costs in result["test"].items():
        values = [costs[s] for s in seeds]
        paired = result["paired"][name]
        vs_pure = "—" if paired["vs pure HAPPO"] is None else interval_text(paired["vs pure HAPPO"], pure_mean)
        vs_rules = " | ".join(interval_text(paired[f"vs {ref}"], rules[ref]) for ref in references)
        lines.append(f"| {name} | {' / '.join(f'{v:,.0f}' for v in values)} | {statistics.fmean(values):,.0f} ± "
                     f"{statistics.stdev(values):,.0f} | {vs_pure} | {vs_rules} |")
    for name in references:
        how = ("family and parameters chosen with the planner on the tuning paths" if name == result["rule_with_planner"]
               else "tuned on the tuning paths")
        lines.append(f"| {name} (K = {k:g}; {how}) | {rules[name]:,.0f} | | |" + " |" * len(references))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixed_costs", type=float, nargs="+", default=[5.0, 25.0, 100.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="training seeds")
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at the same time (one torch thread each)")
    parser.add_argument("--steps", type=int, default=2_000_000, help="env steps per training")
    parser.add_argument("--out", type=Path, default=ROOT / "results/fixed_cost_table", help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = [table_for_k(args, k) for k in args.fixed_costs]
    text = "\n\n".join(markdown(r) for r in results)
    (args.out / "table.md").write_text(text + "\n")
    (args.out / "table.json").write_text(json.dumps(results, indent=2, default=str))
    print(text)
    return 0


if __name__ == "__main__":
    run_cli(main)
