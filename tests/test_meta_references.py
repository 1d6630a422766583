"""Reference lines of the adaptation table: the classic family chosen per task on validation paths, the curves CSV
merge, the gap arithmetic, and a from-scratch run that, with a residual action and no training, is its rule."""
import numpy as np
import pytest

from agents.baselines import make_baseline
from agents.rollout import rollout
from meta.evaluation import evaluation_demand, per_task_mean, read_curves, reference_gap, write_curve_rows
from meta.references import best_per_task, episode_cost, scratch_config, train_from_scratch, tune_classic_families
from meta.tasks import MultiTaskSerialEnv, SerialTask, held_out_tasks
from utils.config import ExperimentConfig


def test_best_family_is_chosen_on_validation_and_reported_on_evaluation():
    families = ["a", "b", "c"]
    validation = np.array([[3.0, 1.0, 2.0], [5.0, 5.0, 6.0]])
    evaluation = np.array([[1.0, 4.0, 9.0], [7.0, 2.0, 8.0]])  # the evaluation-best family differs on task 0
    names, cost = best_per_task(validation, evaluation, families)
    assert names == ["b", "a"]  # task 1: a tie goes to the first listed
    np.testing.assert_array_equal(cost, [4.0, 7.0])


def test_curves_csvs_merge_seed_major_with_reference_rows_once(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("method,seed,task,updates,cost\n" + "".join(
        f"m,{s},{t},{u},{100 * s + 10 * t + u}\n" for s in (1, 0) for t in (0, 1) for u in (0, 5)
    ) + "classic,,0,0,7\nclassic,,0,5,7\nclassic,,1,0,8\nclassic,,1,5,8\n")
    scratch = "scratch (5k steps, residual)"  # a comma in a method name survives the round trip
    write_curve_rows(second, [("m", 1, 1, 5, -1.0)] + [(scratch, 0, t, u, 3.0 + t) for t in (0, 1) for u in (0, 5)])
    stacked, updates = read_curves([str(first), str(second)])
    assert updates == [0, 5] and list(stacked) == ["m", "classic", scratch]
    np.testing.assert_array_equal(stacked["m"], [[0, 5], [10, 15], [100, 105], [110, -1]])  # the later file's row wins
    np.testing.assert_array_equal(stacked["classic"], [[7, 7], [8, 8]])
    np.testing.assert_array_equal(stacked[scratch], [[3, 3], [4, 4]])
    np.testing.assert_array_equal(per_task_mean(stacked["m"], 2), [[50, 55], [60, 7]])
    with pytest.raises(ValueError, match="whole seeds"):
        per_task_mean(stacked["m"][:3], 2)


def test_reference_gap_pairs_tasks_and_measures_the_share_closed():
    curve = np.array([[10.0, 8.0, 6.0], [20.0, 14.0, 12.0]])  # (tasks, updates)
    reference = np.array([4.0, 10.0])
    g = reference_gap(curve, reference)
    assert g["start"] == pytest.approx(8.0) and g["end"] == pytest.approx(2.0)
    assert g["start_half"] == pytest.approx(12.706 * np.std([6, 10], ddof=1) / np.sqrt(2), rel=1e-3)  # t(0.975, 1) * sd / sqrt(n)
    assert g["closed"] == pytest.approx((15 - 9) / (15 - 7))  # 12 of the 16 units of gap summed over tasks
    assert reference_gap(curve[:, ::-1], reference)["closed"] == pytest.approx(-6 / 2)  # moving away is negative


def small_config() -> ExperimentConfig:
    config = ExperimentConfig()
    config.env.episode_length = 12
    config.meta.eval_paths = 3
    config.baselines.tune_paths = 4
    config.baselines.cache_dir = ""
    config.demand.validation_episodes = 3
    return config


def test_classic_families_are_scored_on_the_curves_evaluation_paths():
    config = small_config()
    tasks = held_out_tasks(config.meta.tasks, 3)[:2]
    table = tune_classic_families(config, tasks, ["echelon_base_stock", "pass_through"], log=lambda s: None)
    assert table.eval_cost.shape == table.validation_cost.shape == (2, 2) and table.families == ["echelon_base_stock", "pass_through"]
    demand = evaluation_demand(config, tasks)  # what adaptation_curve evaluates on
    env = MultiTaskSerialEnv(config, n_envs=6)
    env.set_tasks(tasks, 3)
    policy = make_baseline("echelon_base_stock", np.repeat(np.stack([table.params[0][0], table.params[1][0]]), 3, axis=0))
    chain = rollout(policy, env, demand, record=False).sum(axis=1)  # (6,)
    np.testing.assert_allclose(table.eval_cost[:, 0], chain.reshape(2, 3).mean(axis=1))


def test_untrained_residual_scratch_policy_is_its_rule(tmp_path):
    config = small_config()
    config.train.n_envs, config.train.hidden_sizes = 2, [8]
    config.train.lr_actor = 1e-12  # one iteration that moves nothing: the policy stays where it starts
    task = SerialTask("stationary", 6, 0, 0.0, (2, 1, 3), 5)
    rule = np.array([0.3, 1.5, 2.5, 3.5, 1.0, 1.0, 1.0])  # pout_echelon: alpha, k per stage, T per stage
    run = scratch_config(config, task, 4, 1, 7, str(tmp_path), ("pout_echelon", rule))
    assert run.env.serial.lead_time == [2, 1, 3] and run.env.serial.backlog_cost == [5.0] * 3
    assert run.demand.stationary_mean == 6.0 and run.seed == 7 and run.train.algorithm == "happo"
    assert run.residual.enabled and run.residual.params == rule.tolist()
    assert not scratch_config(config, task, 4, 1000, 7, str(tmp_path)).residual.enabled
    demand = evaluation_demand(config, [task])  # (3, 12, 1)
    cost, _, run_dir = train_from_scratch(run, demand, log=lambda s: None)  # the greedy policy starts at the rule
    assert (run_dir / "best.pt").is_file()
    assert cost == pytest.approx(episode_cost(make_baseline("pout_echelon", rule), task.env_config(config.env), demand))
