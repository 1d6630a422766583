"""Choose the adaptation step of a trained initialisation on validation tasks, then run the held-out protocol with it.

    python benchmarks/meta_step_size.py --models results/meta_adaptation/seed12/multitask_seed1.pt ... \\
        [--steps 0.1 0.3 1.0] [--name "multitask (step chosen)"] [--out results/meta_adaptation/step]

Validation tasks: 8 training-distribution tasks drawn with seed 999 (never a held-out task), adapted with each
step from each model; the step with the lowest mean cost after 1, 2 and 5 updates is chosen, and only then are
the held-out tasks run with it (meta.evaluation.adaptation_curve). Writes curves.csv in the format of
benchmarks/meta_adaptation.py (merge with its --combine); the seed column is each model's config seed.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from meta.evaluation import adaptation_curve, inits_for_tasks
from meta.tasks import held_out_tasks, load_test_tasks, sample_training_tasks
from meta.training import load_meta_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, help="model files written by benchmarks/meta_adaptation.py")
    parser.add_argument("--steps", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--name", default="step chosen on validation")
    parser.add_argument("--out", default="results/meta_adaptation/step")
    args = parser.parse_args()
    models = [load_meta_model(p) for p in args.models]
    config = models[0].config
    n_stages = config.env.serial.n_stages
    validation = sample_training_tasks(config.meta.tasks, np.random.default_rng(999), 8, held_out_tasks(config.meta.tasks, n_stages), n_stages)
    score = {}
    for step in args.steps:
        costs = []
        for model in models:
            c = dataclasses.replace(model.config, meta=dataclasses.replace(model.config.meta, inner_lr=step, eval_seed=5))
            curve = adaptation_curve(c, inits_for_tasks(model, validation), validation)
            costs.append(curve[:, [c.meta.eval_updates.index(u) for u in (1, 2, 5)]].mean())
        score[step] = float(np.mean(costs))
        print(f"step {step}: validation mean cost after 1, 2, 5 updates {score[step]:,.0f}", flush=True)
    best = min(score, key=score.get)
    print(f"chosen step {best}")
    rows = ["method,seed,task,updates,cost"]
    tasks = load_test_tasks(config)
    for model in models:
        c = dataclasses.replace(model.config, meta=dataclasses.replace(model.config.meta, inner_lr=best))
        curve = adaptation_curve(c, inits_for_tasks(model, tasks), tasks)
        for t in range(len(tasks)):
            rows += [f"{args.name},{model.config.seed},{t},{u},{curve[t, j]:.2f}" for j, u in enumerate(c.meta.eval_updates)]
        print(f"seed {model.config.seed}: held-out mean cost {np.round(curve.mean(axis=0))}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "curves.csv").write_text("\n".join(rows) + "\n")
    print(f"wrote {out / 'curves.csv'}")


if __name__ == "__main__":
    main()
