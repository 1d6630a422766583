"""Hierarchical meta-learning: the task embedding reads what it claims, the soft clustering separates the two
demand regimes, and the meta-training commands run end to end (train_main / evaluate_main dispatch,
seeded reproduction, held-out tasks never drawn, a wrong model file refused in one line)."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from meta.hierarchical_metalearning import (
    fit_soft_clustering, lag1_autocorrelation, observed_lead_times, select_inits, task_embeddings,
)
from meta.tasks import MultiTaskSerialEnv, SerialTask, held_out_tasks, sample_training_tasks, write_task_file
from meta.training import load_meta_model, train_meta
from utils.config import load_config
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_lag1_autocorrelation_of_known_paths():
    alternating = np.array([[1.0, -1.0] * 10])
    assert lag1_autocorrelation(alternating)[0] == (-19 / 20)  # 19 products of -1 over a sum of squares of 20
    assert lag1_autocorrelation(np.ones((1, 5)))[0] == 0.0  # constant path: defined as 0
    ramp = np.arange(10.0)[None]
    x = ramp - 4.5
    assert np.isclose(lag1_autocorrelation(ramp)[0], (x[0, 1:] * x[0, :-1]).sum() / (x * x).sum())


def test_lead_times_read_from_the_first_observation():
    config = load_config(ROOT / "configs/meta_maml.yaml")
    tasks = [SerialTask("stationary", 8, 0, 0.0, (1, 6, 3), 2), SerialTask("merton", 0, 10, 0.01, (5, 2, 4), 9)]
    env = MultiTaskSerialEnv(config, n_envs=4)
    env.set_tasks(tasks, 2)
    obs, _ = env.reset(seed=0)
    assert observed_lead_times(obs, env.n_slots).tolist() == [[1, 6, 3], [1, 6, 3], [5, 2, 4], [5, 2, 4]]


def test_embeddings_and_clustering_separate_the_two_demand_regimes():
    config = load_config(ROOT / "configs/meta_hierarchical.yaml")
    held = held_out_tasks(config.meta.tasks, 3)
    tasks = sample_training_tasks(config.meta.tasks, np.random.default_rng(0), 40, held, 3)
    emb = task_embeddings(config, tasks, seed=1)
    merton = np.array([t.demand_kind == "merton" for t in tasks])
    assert emb[merton, 2].min() > emb[~merton, 2].max()  # autocorrelation: random walk vs i.i.d.
    lead = np.array([np.mean(t.lead_time) / 6 for t in tasks])
    assert np.allclose(emb[:, 3], lead)
    clustering = fit_soft_clustering(emb, 2, np.random.default_rng(0))
    r = clustering.responsibilities(emb)
    assert np.allclose(r.sum(axis=1), 1.0)
    choice = np.array(select_inits(r))
    assert (choice[merton] == choice[merton][0]).all() and (choice[~merton] != choice[merton][0]).all()


def tiny_overrides(tmp_path):
    return [
        "meta.meta_iterations=2", "meta.meta_batch_tasks=2", "meta.episodes_per_update=2", "env.episode_length=12",
        "meta.eval_updates=[0,1]", "meta.eval_paths=2", "meta.cluster_fit_tasks=6", "meta.embedding_periods=5",
        "meta.tasks.n_test_tasks=2", f"meta.tasks.test_tasks_file={tmp_path / 'tasks.yaml'}", f"out_dir={tmp_path}",
        "train.n_envs=4", "train.n_minibatches=2", "train.ppo_epochs=1",
    ]


def test_meta_training_is_seeded_and_never_draws_a_held_out_task(tmp_path):
    config = load_config(ROOT / "configs/meta_hierarchical.yaml", tiny_overrides(tmp_path))
    a = train_meta(config, log=lambda s: None, write=False)
    b = train_meta(config, log=lambda s: None, write=False)
    for pa, pb in zip(a.inits, b.inits):
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert len(a.inits) == 2 and not all(torch.equal(a.inits[0][k], a.inits[1][k]) for k in a.inits[0])
    held = set(held_out_tasks(config.meta.tasks, 3))
    assert len(a.training_tasks) == 6 + 2 * 2 and not set(a.training_tasks) & held


def test_train_main_and_evaluate_main_run_a_meta_config(tmp_path, monkeypatch, capsys):
    import evaluate_main
    import train_main

    overrides = tiny_overrides(tmp_path)
    config = load_config(ROOT / "configs/meta_maml.yaml", overrides)
    write_task_file(config.meta.tasks.test_tasks_file, held_out_tasks(config.meta.tasks, 3), config.meta.tasks)
    sets = [arg for o in overrides + ["meta.variant=fomaml"] for arg in ("--set", o)]
    monkeypatch.chdir(ROOT)
    assert train_main.main(["--config", "configs/meta_maml.yaml", *sets]) == 0
    model_path = tmp_path / "meta_maml_policy.pt"
    model = load_meta_model(model_path)
    assert model.config.meta.variant == "fomaml" and model.meta_env_steps == 2 * 2 * 2 * 12 * 2
    argv = ["evaluate_main.py", "--config", "configs/meta_maml.yaml", *sets]
    monkeypatch.setattr(sys, "argv", argv + ["--model_path", str(model_path), "--plots", str(tmp_path / "eval")])
    assert evaluate_main.main() == 0
    lines = (tmp_path / "eval" / "adaptation_curves.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 2 * 2  # 2 methods x 2 tasks x 2 update counts
    assert (tmp_path / "eval" / "adaptation_curves.png").stat().st_size > 1000
    assert "| maml (fomaml) |" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", argv + ["--model_path", str(next(tmp_path.glob("meta_maml_*/config.yaml")))])
    with pytest.raises(UserError, match="model file .* cannot be read|is not a meta-learned model"):
        evaluate_main.main()
